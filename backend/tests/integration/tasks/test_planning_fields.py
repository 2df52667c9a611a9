"""priority, due_at, tags and completed_at through every route, stored and read back."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowReader, TaskMaker

pytestmark = pytest.mark.anyio

Json = dict[str, Any]


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: Any = None
) -> httpx.Response:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return await client.request(method, f"/api/v1/alice/tasks{path}", headers=auth(), **kwargs)


async def test_a_new_task_has_the_planning_defaults(
    client: httpx.AsyncClient, task_row: RowReader
) -> None:
    response = await send(client, "POST", "", {"title": "t"})
    assert response.status_code == 201
    task = response.json()
    assert task["priority"] == "none"
    assert task["due_at"] is None
    assert task["tags"] == []
    assert task["completed_at"] is None
    row = await task_row(task["id"])
    assert row is not None
    assert (row["priority"], row["due_at"], row["tags"]) == (0, None, [])


@pytest.mark.parametrize(("name", "stored"), [("none", 0), ("low", 1), ("medium", 2), ("high", 3)])
async def test_priorities_are_stored_as_their_rank(
    create_task: TaskMaker, task_row: RowReader, name: str, stored: int
) -> None:
    task = await create_task(priority=name)
    assert task["priority"] == name
    row = await task_row(task["id"])
    assert row is not None
    assert row["priority"] == stored


async def test_tags_are_trimmed_lowercased_and_collapsed_keeping_first_places(
    create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task(tags=[" Work ", "home", "WORK", "Errands", "home ", "x" * 32])
    assert task["tags"] == ["work", "home", "errands", "x" * 32]
    row = await task_row(task["id"])
    assert row is not None
    assert row["tags"] == ["work", "home", "errands", "x" * 32]


async def test_twenty_distinct_tags_are_accepted_even_with_duplicates(
    create_task: TaskMaker,
) -> None:
    tags = [f"t{n}" for n in range(20)]
    task = await create_task(tags=[*tags, "T0", " t19 "])
    assert task["tags"] == tags


@pytest.mark.parametrize(
    "tags",
    [
        [f"t{n}" for n in range(21)],
        ["x" * 33],
        ["  "],
        [""],
        ["a\u0000b"],
        "work",
        [1],
        [None],
        None,
    ],
    ids=[
        "21 distinct",
        "33 characters",
        "blank",
        "empty",
        "NUL",
        "not a list",
        "number",
        "null",
        "null list",
    ],
)
async def test_invalid_tags_are_422_on_every_writing_route(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader, tags: Any
) -> None:
    task = await create_task(tags=["keep"])
    for method, path in (("POST", ""), ("PUT", f"/{task['id']}"), ("PATCH", f"/{task['id']}")):
        response = await send(client, method, path, {"title": "t", "tags": tags})
        assert response.status_code == 422, (method, response.text)
        assert response.json()["code"] == "validation_error"
    row = await task_row(task["id"])
    assert row is not None
    assert row["tags"] == ["keep"]
    assert row["version"] == 1


@pytest.mark.parametrize(
    ("given", "returned"),
    [
        ("2026-12-01T17:00:00+02:00", "2026-12-01T15:00:00Z"),
        ("2026-12-01T17:00:00-05:30", "2026-12-01T22:30:00Z"),
        ("2026-12-01T17:00:00Z", "2026-12-01T17:00:00Z"),
        ("2026-12-01T17:00:00.123456+00:00", "2026-12-01T17:00:00.123456Z"),
        ("2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00Z"),
    ],
)
async def test_due_at_is_stored_and_returned_in_utc(
    client: httpx.AsyncClient, create_task: TaskMaker, given: str, returned: str
) -> None:
    task = await create_task(due_at=given)
    assert task["due_at"] == returned
    fetched = (await send(client, "GET", f"/{task['id']}")).json()
    assert fetched["due_at"] == returned
    assert datetime.fromisoformat(returned) == datetime.fromisoformat(given)


@pytest.mark.parametrize(
    "due_at",
    ["2026-12-01T17:00:00", "2026-12-01", "tomorrow", 1764608400, "0001-01-01T00:00:00+01:00"],
    ids=["no offset", "date only", "words", "a number", "before year 1 in UTC"],
)
async def test_invalid_due_dates_are_422(client: httpx.AsyncClient, due_at: Any) -> None:
    response = await send(client, "POST", "", {"title": "t", "due_at": due_at})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("priority", ["urgent", "HIGH", "", 3, None, ["high"]])
async def test_invalid_priorities_are_422(client: httpx.AsyncClient, priority: Any) -> None:
    for method in ("POST", "PATCH"):
        path = (
            ""
            if method == "POST"
            else f"/{(await send(client, 'POST', '', {'title': 't'})).json()['id']}"
        )
        response = await send(client, method, path, {"title": "t", "priority": priority})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"


async def test_put_returns_missing_planning_fields_to_their_defaults(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(
        priority="high", due_at="2026-12-01T17:00:00Z", tags=["work"], completed=True
    )
    response = await send(client, "PUT", f"/{task['id']}", {"title": "replaced"})
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["priority"] == "none"
    assert replaced["due_at"] is None
    assert replaced["tags"] == []
    assert replaced["completed"] is False
    assert replaced["completed_at"] is None


async def test_put_sets_every_planning_field_given(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    body = {"title": "t", "priority": "low", "due_at": "2027-01-01T08:00:00+01:00", "tags": ["A"]}
    replaced = (await send(client, "PUT", f"/{task['id']}", body)).json()
    assert (replaced["priority"], replaced["due_at"], replaced["tags"]) == (
        "low",
        "2027-01-01T07:00:00Z",
        ["a"],
    )


async def test_patch_changes_only_the_given_planning_fields(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(priority="high", due_at="2026-12-01T17:00:00Z", tags=["work"])
    changed = (await send(client, "PATCH", f"/{task['id']}", {"priority": "low"})).json()
    assert changed["priority"] == "low"
    assert changed["due_at"] == "2026-12-01T17:00:00Z"
    assert changed["tags"] == ["work"]
    changed = (await send(client, "PATCH", f"/{task['id']}", {"tags": []})).json()
    assert (changed["priority"], changed["tags"]) == ("low", [])
    assert changed["due_at"] == "2026-12-01T17:00:00Z"


async def test_patch_due_at_null_clears_it(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task(due_at="2026-12-01T17:00:00Z", priority="medium")
    changed = (await send(client, "PATCH", f"/{task['id']}", {"due_at": None})).json()
    assert changed["due_at"] is None
    assert changed["priority"] == "medium"
    row = await task_row(task["id"])
    assert row is not None
    assert row["due_at"] is None


@pytest.mark.parametrize("field", ["priority", "tags"])
async def test_patch_cannot_null_priority_or_tags(
    client: httpx.AsyncClient, create_task: TaskMaker, field: str
) -> None:
    task = await create_task(priority="high", tags=["work"])
    response = await send(client, "PATCH", f"/{task['id']}", {field: None})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    fetched = (await send(client, "GET", f"/{task['id']}")).json()
    assert (fetched["priority"], fetched["tags"]) == ("high", ["work"])


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00Z", None])
async def test_no_body_can_set_completed_at(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader, value: Any
) -> None:
    task = await create_task()
    requests = [
        ("POST", "", {"title": "t", "completed_at": value}),
        ("PUT", f"/{task['id']}", {"title": "t", "completed_at": value}),
        ("PATCH", f"/{task['id']}", {"completed_at": value}),
        ("PATCH", f"/{task['id']}/complete", {"completed": True, "completed_at": value}),
    ]
    for method, path, body in requests:
        response = await send(client, method, path, body)
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["code"] == "validation_error"
    row = await task_row(task["id"])
    assert row is not None
    assert (row["completed"], row["completed_at"], row["version"]) == (False, None, 1)
    listed = (await client.get("/api/v1/alice/tasks", headers=auth())).json()
    assert listed["total"] == 1


def stamp(task: Json) -> datetime | None:
    value = task["completed_at"]
    return None if value is None else datetime.fromisoformat(value)


async def test_completed_at_is_set_by_post_when_created_completed(create_task: TaskMaker) -> None:
    done = await create_task(completed=True)
    assert stamp(done) is not None
    assert stamp(done) == datetime.fromisoformat(done["created_at"])
    assert stamp(await create_task(completed=False)) is None


async def test_completed_at_through_patch_is_set_kept_and_cleared(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    path = f"/{task['id']}"
    done = (await send(client, "PATCH", path, {"completed": True})).json()
    first = stamp(done)
    assert first is not None
    assert first == datetime.fromisoformat(done["updated_at"])
    await asyncio.sleep(0.01)
    # Completed again, or another field changed: the moment it was completed stays.
    again = (await send(client, "PATCH", path, {"completed": True, "title": "x"})).json()
    assert stamp(again) == first
    assert again["updated_at"] > done["updated_at"]
    other = (await send(client, "PATCH", path, {"priority": "high"})).json()
    assert stamp(other) == first
    reopened = (await send(client, "PATCH", path, {"completed": False})).json()
    assert stamp(reopened) is None


async def test_completed_at_through_put_is_set_kept_and_cleared(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    path = f"/{task['id']}"
    done = (await send(client, "PUT", path, {"title": "t", "completed": True})).json()
    first = stamp(done)
    assert first is not None
    await asyncio.sleep(0.01)
    kept = (await send(client, "PUT", path, {"title": "u", "completed": True})).json()
    assert stamp(kept) == first
    # PUT without `completed` reopens the task (the default), which clears the stamp.
    reopened = (await send(client, "PUT", path, {"title": "u"})).json()
    assert (reopened["completed"], stamp(reopened)) == (False, None)


async def test_completed_at_through_complete_toggle_and_set(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    path = f"/{task['id']}/complete"
    toggled = (await send(client, "PATCH", path)).json()
    first = stamp(toggled)
    assert toggled["completed"] is True
    assert first is not None
    await asyncio.sleep(0.01)
    kept = (await send(client, "PATCH", path, {"completed": True})).json()
    assert stamp(kept) == first
    toggled_back = (await send(client, "PATCH", path)).json()
    assert (toggled_back["completed"], stamp(toggled_back)) == (False, None)
    set_again = (await send(client, "PATCH", path, {"completed": True})).json()
    second = stamp(set_again)
    assert second is not None
    assert second > first
    assert second - first < timedelta(minutes=1)
