"""The input schemas alone: what a body may contain, and what it becomes."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from app.tasks.schemas import TaskCompletion, TaskCreate, TaskReplace, TaskUpdate

FULL_BODIES: list[type[BaseModel]] = [TaskCreate, TaskReplace]


@pytest.mark.parametrize("model", FULL_BODIES)
def test_defaults_of_a_full_body(model: type[BaseModel]) -> None:
    body = model.model_validate({"title": "t"})
    assert body.model_dump() == {
        "title": "t",
        "description": None,
        "completed": False,
        "priority": "none",
        "due_at": None,
        "tags": [],
        "recurrence": None,
        "time_zone": "UTC",
        "reminders": [],
    }


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate])
@pytest.mark.parametrize(
    ("title", "stored"),
    [
        ("  Buy milk\n", "Buy milk"),
        ("\u3000全角\u3000", "全角"),  # ideographic spaces are whitespace too
        (" " + "😀" * 255 + " ", "😀" * 255),
        ("a  b", "a  b"),
    ],
)
def test_titles_are_trimmed_and_counted_in_code_points(
    model: type[BaseModel], title: str, stored: str
) -> None:
    assert model.model_validate({"title": title}).model_dump()["title"] == stored


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate])
@pytest.mark.parametrize(
    "title",
    ["", "   ", "\t\n", "a" * 256, "😀" * 256, "a\u0000", "\ud800", 1, 1.0, True, [], {}],
)
def test_invalid_titles(model: type[BaseModel], title: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"title": title})
    assert caught.value.errors()[0]["loc"][0] == "title"


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate])
def test_descriptions_are_stored_as_given_up_to_2000_code_points(model: type[BaseModel]) -> None:
    for description in ("  spaced  ", "é" * 2000, "", "line\nbreaks\ttoo"):
        body = model.model_validate({"title": "t", "description": description})
        assert body.model_dump()["description"] == description


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate])
@pytest.mark.parametrize("description", ["é" * 2001, "\u0000", "\udfff", 5, False, ["d"]])
def test_invalid_descriptions(model: type[BaseModel], description: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"title": "t", "description": description})
    assert caught.value.errors()[0]["loc"][0] == "description"


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate, TaskCompletion])
@pytest.mark.parametrize("completed", ["true", "false", 1, 0, "yes", "1", 1.0])
def test_completed_must_be_a_json_boolean(model: type[BaseModel], completed: Any) -> None:
    body = (
        {"completed": completed}
        if model is TaskCompletion
        else {"title": "t", "completed": completed}
    )
    with pytest.raises(ValidationError):
        model.model_validate(body)


@pytest.mark.parametrize("model", [*FULL_BODIES, TaskUpdate, TaskCompletion])
@pytest.mark.parametrize("field", ["id", "owner_id", "created_at", "updated_at", "colour"])
def test_unknown_fields_are_refused(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(
            {"title": "t", "completed": True, field: "x"}
            if model is not TaskCompletion
            else {field: "x"}
        )
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("model", FULL_BODIES)
def test_a_full_body_needs_a_title(model: type[BaseModel]) -> None:
    for body in ({}, {"description": "d"}, {"title": None}):
        with pytest.raises(ValidationError):
            model.model_validate(body)


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        ({}, {}),
        ({"title": " t "}, {"title": "t"}),
        ({"description": None}, {"description": None}),
        ({"description": "d", "completed": False}, {"description": "d", "completed": False}),
    ],
)
def test_update_changes_are_only_the_fields_given(
    body: dict[str, Any], changes: dict[str, Any]
) -> None:
    assert TaskUpdate.model_validate(body).changes() == changes


@pytest.mark.parametrize("body", [{"title": None}, {"completed": None}])
def test_update_cannot_null_a_required_column(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TaskUpdate.model_validate(body)


@pytest.mark.parametrize(
    ("body", "completed"), [({}, None), ({"completed": True}, True), ({"completed": False}, False)]
)
def test_completion_sets_or_leaves_out(body: dict[str, Any], completed: bool | None) -> None:
    assert TaskCompletion.model_validate(body).completed is completed


def test_completion_cannot_be_null() -> None:
    with pytest.raises(ValidationError):
        TaskCompletion.model_validate({"completed": None})


def test_json_input_is_validated_the_same_way() -> None:
    assert TaskCreate.model_validate_json('{"title": " x "}').title == "x"
    with pytest.raises(ValidationError):
        TaskCreate.model_validate_json('{"title": "x", "completed": "true"}')


@pytest.mark.parametrize(
    "due_at",
    [
        0,  # a number would be read as a Unix time; the schema promises a string
        "2026-12-01T17:00:00",  # no offset
        "0001-01-01T00:00:00Z",  # the driver would store these two as -infinity/infinity
        "9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    ],
)
def test_due_at_must_be_a_storable_date_time_with_an_offset(due_at: object) -> None:
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": "t", "due_at": due_at})


def test_due_at_is_converted_to_utc() -> None:
    body = TaskCreate.model_validate({"title": "t", "due_at": "2026-01-01T10:00:00+02:00"})
    assert body.due_at == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert body.due_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("tag", ["", "   ", "x" * 33])
def test_a_tag_is_one_to_32_characters_after_trimming(tag: str) -> None:
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": "t", "tags": [tag]})


def test_tags_are_trimmed_lowercased_and_collapsed_in_order() -> None:
    body = TaskCreate.model_validate({"title": "t", "tags": [" Home", "errands", "HOME ", "x"]})
    assert body.tags == ["home", "errands", "x"]


def test_at_most_twenty_distinct_tags_counted_after_collapsing() -> None:
    twenty = [f"t{i}" for i in range(20)]
    assert len(TaskCreate.model_validate({"title": "t", "tags": [*twenty, "T0"]}).tags) == 20
    with pytest.raises(ValidationError):
        TaskCreate.model_validate({"title": "t", "tags": [*twenty, "t20"]})
