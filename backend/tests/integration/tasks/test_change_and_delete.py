"""PUT replaces, PATCH changes only what is given, /complete sets or toggles, DELETE moves to
the trash (tests/integration/trash has the rest of the trash)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import Json, RowReader, TaskMaker

pytestmark = pytest.mark.anyio

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def age(db: asyncpg.Connection, task: Json) -> Json:
    """Move the task's timestamps into the past, so that a change of updated_at shows."""
    await db.execute(
        "UPDATE tasks SET created_at = $1, updated_at = $1 WHERE id = $2",
        LONG_AGO,
        uuid.UUID(task["id"]),
    )
    return {**task, "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def send(
    client: httpx.AsyncClient, method: str, task: Json, suffix: str = "", **kwargs: Any
) -> httpx.Response:
    kwargs["headers"] = {**auth(), **kwargs.get("headers", {})}
    return await client.request(method, f"/api/v1/alice/tasks/{task['id']}{suffix}", **kwargs)


# PUT


async def test_put_replaces_every_field_and_defaults_the_missing_ones(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await age(db, await create_task(title="old", description="old d", completed=True))
    response = await send(client, "PUT", task, json={"title": "  new  "})
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["title"] == "new"
    assert replaced["description"] is None
    assert replaced["completed"] is False
    assert replaced["id"] == task["id"]
    assert replaced["owner_id"] == "alice"
    assert when(replaced["created_at"]) == LONG_AGO
    assert when(replaced["updated_at"]) > LONG_AGO
    row = await task_row(task["id"])
    assert row is not None
    assert (row["title"], row["description"], row["completed"]) == ("new", None, False)


async def test_put_sets_all_given_fields(client: httpx.AsyncClient, create_task: TaskMaker) -> None:
    task = await create_task()
    body = {"title": "t", "description": "d", "completed": True}
    response = await send(client, "PUT", task, json=body)
    assert response.status_code == 200
    assert {key: response.json()[key] for key in body} == body


async def test_put_of_a_missing_task_is_404_and_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.put(
        f"/api/v1/alice/tasks/{uuid.uuid4()}", json={"title": "x"}, headers=auth()
    )
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


# PATCH


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": " renamed "}, {"title": "renamed", "description": "d", "completed": False}),
        ({"description": "new d"}, {"title": "t", "description": "new d", "completed": False}),
        ({"description": None}, {"title": "t", "description": None, "completed": False}),
        ({"completed": True}, {"title": "t", "description": "d", "completed": True}),
        (
            {"title": "both", "completed": True},
            {"title": "both", "description": "d", "completed": True},
        ),
    ],
)
async def test_patch_changes_only_the_given_fields(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_task: TaskMaker,
    task_row: RowReader,
    change: Json,
    expected: Json,
) -> None:
    task = await age(db, await create_task(title="t", description="d"))
    response = await send(client, "PATCH", task, json=change)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert {key: patched[key] for key in expected} == expected
    assert when(patched["created_at"]) == LONG_AGO
    assert when(patched["updated_at"]) > LONG_AGO
    row = await task_row(task["id"])
    assert row is not None
    assert {key: row[key] for key in expected} == expected


async def test_an_empty_patch_changes_nothing_not_even_updated_at(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await age(db, await create_task(title="t", description="d"))
    before = await task_row(task["id"])
    response = await send(client, "PATCH", task, json={})
    assert response.status_code == 200
    assert response.json()["title"] == "t"
    assert when(response.json()["updated_at"]) == LONG_AGO
    assert await task_row(task["id"]) == before


async def test_an_empty_patch_of_a_missing_task_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"/api/v1/alice/tasks/{uuid.uuid4()}", json={}, headers=auth())
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"


@pytest.mark.parametrize(
    "body", [{"title": None}, {"completed": None}, {"title": None, "completed": True}]
)
async def test_patch_cannot_null_title_or_completed(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_task: TaskMaker,
    task_row: RowReader,
    body: Json,
) -> None:
    task = await age(db, await create_task(title="t"))
    before = await task_row(task["id"])
    response = await send(client, "PATCH", task, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await task_row(task["id"]) == before


# PATCH /complete


async def test_complete_without_a_body_toggles(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    states = []
    for _ in range(3):
        response = await send(client, "PATCH", task, "/complete")
        assert response.status_code == 200, response.text
        states.append(response.json()["completed"])
    assert states == [True, False, True]
    row = await task_row(task["id"])
    assert row is not None
    assert row["completed"] is True


@pytest.mark.parametrize("content", [b"{}", b"null"])
async def test_complete_with_a_body_without_completed_toggles(
    client: httpx.AsyncClient, create_task: TaskMaker, content: bytes
) -> None:
    task = await create_task(completed=True)
    response = await send(
        client,
        "PATCH",
        task,
        "/complete",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["completed"] is False


@pytest.mark.parametrize("value", [True, False])
async def test_complete_with_a_value_sets_it_and_repeating_keeps_it(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, value: bool
) -> None:
    task = await age(db, await create_task(completed=not value))
    for _ in range(2):
        response = await send(client, "PATCH", task, "/complete", json={"completed": value})
        assert response.status_code == 200
        assert response.json()["completed"] is value
        assert when(response.json()["updated_at"]) > LONG_AGO
        assert response.json()["title"] == task["title"]


async def test_complete_of_a_missing_task_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"/api/v1/alice/tasks/{uuid.uuid4()}/complete", headers=auth())
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"


# DELETE


async def test_delete_is_204_with_an_empty_body_then_404(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    kept = await create_task(title="kept")
    response = await send(client, "DELETE", task)
    assert response.status_code == 204
    assert response.content == b""
    trashed = await task_row(task["id"])
    assert trashed is not None
    assert trashed["deleted_at"] is not None
    live = await task_row(kept["id"])
    assert live is not None
    assert live["deleted_at"] is None
    for method in ("GET", "DELETE"):
        again = await send(client, method, task)
        assert again.status_code == 404
        assert again.json()["code"] == "task_not_found"
    listed = await client.get("/api/v1/alice/tasks", headers=auth())
    assert [t["id"] for t in listed.json()["tasks"]] == [kept["id"]]
