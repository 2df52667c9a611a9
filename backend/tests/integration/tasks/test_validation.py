"""Every kind of invalid input is a 422 that stores or changes nothing."""

import json
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowReader, TaskMaker

pytestmark = pytest.mark.anyio

JSON_HEADERS = {"Content-Type": "application/json"}


def raw(text: str) -> bytes:
    return text.encode()


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


# (bytes sent, expected code): invalid for POST, PUT and PATCH alike.
INVALID_TASK_BODIES: dict[str, tuple[bytes, str]] = {
    "empty title": (body({"title": ""}), "validation_error"),
    "whitespace title": (body({"title": " \t\n "}), "validation_error"),
    "title of 256 ascii": (body({"title": "a" * 256}), "validation_error"),
    "title of 256 two-byte": (body({"title": "é" * 256}), "validation_error"),
    "title of 256 four-byte": (body({"title": "😀" * 256}), "validation_error"),
    "title of 256 after trim": (body({"title": "  " + "€" * 256 + "  "}), "validation_error"),
    "NUL in title": (body({"title": "a\u0000b"}), "validation_error"),
    "unpaired surrogate in title": (raw('{"title": "\\ud800"}'), "validation_error"),
    "title is 1": (body({"title": 1}), "validation_error"),
    "title is true": (body({"title": True}), "validation_error"),
    "title is a list": (body({"title": ["x"]}), "validation_error"),
    "title is an object": (body({"title": {"x": 1}}), "validation_error"),
    "description of 2001": (body({"title": "t", "description": "é" * 2001}), "validation_error"),
    "NUL in description": (body({"title": "t", "description": "\u0000"}), "validation_error"),
    "unpaired surrogate in description": (
        raw('{"title": "t", "description": "\\udfff"}'),
        "validation_error",
    ),
    "description is 5": (body({"title": "t", "description": 5}), "validation_error"),
    "description is false": (body({"title": "t", "description": False}), "validation_error"),
    "completed is the string true": (body({"title": "t", "completed": "true"}), "validation_error"),
    "completed is 1": (body({"title": "t", "completed": 1}), "validation_error"),
    "completed is 0": (body({"title": "t", "completed": 0}), "validation_error"),
    "completed is NaN": (raw('{"title": "t", "completed": NaN}'), "validation_error"),
    "unknown field": (body({"title": "t", "colour": "red"}), "validation_error"),
    "id in body": (
        body({"title": "t", "id": "00000000-0000-4000-8000-000000000000"}),
        "validation_error",
    ),
    "owner_id in body": (body({"title": "t", "owner_id": "mallory"}), "validation_error"),
    "created_at in body": (
        body({"title": "t", "created_at": "2020-01-01T00:00:00Z"}),
        "validation_error",
    ),
    "updated_at in body": (
        body({"title": "t", "updated_at": "2020-01-01T00:00:00Z"}),
        "validation_error",
    ),
    "body is a list": (body([{"title": "t"}]), "validation_error"),
    "body is a string": (body("t"), "validation_error"),
    "body is a number": (body(1), "validation_error"),
    "truncated JSON": (raw('{"title": "t"'), "invalid_json"),
    "single quotes": (raw("{'title': 't'}"), "invalid_json"),
    "trailing comma": (raw('{"title": "t",}'), "invalid_json"),
    "form encoding": (raw("title=t"), "invalid_json"),
    "not UTF-8": (b'{"title": "\xff\xfe"}', "invalid_json"),
    "nested too deeply": (b"[" * 100_000, "invalid_json"),
}
# Invalid for POST and PUT only: PATCH may leave the title out.
MISSING_TITLE: dict[str, tuple[bytes, str]] = {
    "empty object": (body({}), "validation_error"),
    "title missing": (body({"description": "d"}), "validation_error"),
    "title null": (body({"title": None}), "validation_error"),
    "no body": (b"", "validation_error"),
}
FULL_BODY_CASES = {**INVALID_TASK_BODIES, **MISSING_TITLE}


def assert_422(response: httpx.Response, code: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()
    assert set(error) == {"detail", "code"}
    assert error["code"] == code
    assert isinstance(error["detail"], list)
    assert error["detail"]
    assert all(item["loc"][0] == "body" for item in error["detail"])


@pytest.mark.parametrize("case", FULL_BODY_CASES)
async def test_create_rejects_and_stores_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, case: str
) -> None:
    content, code = FULL_BODY_CASES[case]
    response = await client.post(
        "/api/v1/alice/tasks", content=content, headers={**auth(), **JSON_HEADERS}
    )
    assert_422(response, code)
    assert "location" not in response.headers
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


@pytest.mark.parametrize("case", FULL_BODY_CASES)
async def test_replace_rejects_and_changes_nothing(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader, case: str
) -> None:
    task = await create_task(title="kept", description="kept too", completed=True)
    before = await task_row(task["id"])
    content, code = FULL_BODY_CASES[case]
    response = await client.put(
        f"/api/v1/alice/tasks/{task['id']}", content=content, headers={**auth(), **JSON_HEADERS}
    )
    assert_422(response, code)
    assert await task_row(task["id"]) == before


@pytest.mark.parametrize("case", INVALID_TASK_BODIES)
async def test_patch_rejects_and_changes_nothing(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader, case: str
) -> None:
    task = await create_task(title="kept", description="kept too", completed=True)
    before = await task_row(task["id"])
    content, code = INVALID_TASK_BODIES[case]
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}", content=content, headers={**auth(), **JSON_HEADERS}
    )
    assert_422(response, code)
    assert await task_row(task["id"]) == before


INVALID_COMPLETION_BODIES: dict[str, tuple[bytes, str]] = {
    "completed is the string true": (body({"completed": "true"}), "validation_error"),
    "completed is 1": (body({"completed": 1}), "validation_error"),
    "completed is null": (body({"completed": None}), "validation_error"),
    "unknown field": (body({"completed": True, "title": "x"}), "validation_error"),
    "body is a list": (body([True]), "validation_error"),
    "body is true": (body(True), "validation_error"),
    "truncated JSON": (raw('{"completed": true'), "invalid_json"),
}


@pytest.mark.parametrize("case", INVALID_COMPLETION_BODIES)
async def test_complete_rejects_and_changes_nothing(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader, case: str
) -> None:
    task = await create_task()
    before = await task_row(task["id"])
    content, code = INVALID_COMPLETION_BODIES[case]
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}/complete",
        content=content,
        headers={**auth(), **JSON_HEADERS},
    )
    assert_422(response, code)
    assert await task_row(task["id"]) == before


# Boundaries that are valid, next to the invalid ones above.


async def test_a_title_of_255_multibyte_code_points_after_trimming_is_stored_trimmed(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    title = "😀é€" * 85  # 255 code points, 765 UTF-8 bytes... and 4-byte ones
    assert len(title) == 255
    response = await client.post(
        "/api/v1/alice/tasks", json={"title": f" \t{title}\n "}, headers=auth()
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title
    assert await db.fetchval("SELECT title FROM tasks") == title
    assert await db.fetchval("SELECT char_length(title) FROM tasks") == 255


async def test_a_description_of_2000_multibyte_code_points_is_stored_as_given(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    description = " " + "é" * 1998 + " "
    response = await client.post(
        "/api/v1/alice/tasks", json={"title": "t", "description": description}, headers=auth()
    )
    assert response.status_code == 201, response.text
    assert response.json()["description"] == description
    assert await db.fetchval("SELECT description FROM tasks") == description


async def test_patch_accepts_the_same_boundaries(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}",
        json={"title": "€" * 255, "description": "é" * 2000},
        headers=auth(),
    )
    assert response.status_code == 200, response.text


# Query parameters of the list.


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("completed=maybe", "completed"),
        ("completed=", "completed"),
        ("completed=2", "completed"),
    ],
)
async def test_invalid_list_parameters_are_422(
    client: httpx.AsyncClient, create_task: TaskMaker, query: str, parameter: str
) -> None:
    await create_task()
    response = await client.get(f"/api/v1/alice/tasks?{query}", headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert [error["loc"] for error in response.json()["detail"]] == [["query", parameter]]
