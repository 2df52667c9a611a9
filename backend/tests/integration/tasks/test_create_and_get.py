"""POST creates (201 + Location), GET reads one task; the Task shape and its timestamps."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowReader, TaskMaker

pytestmark = pytest.mark.anyio

TASK_FIELDS = {
    "id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "due_at",
    "tags",
    "recurrence",
    "time_zone",
    "reminders",
    "series_id",
    "next_id",
    "version",
    "owner_id",
    "created_at",
    "updated_at",
}
EXPLICIT_OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")


def parse_timestamp(value: str) -> datetime:
    assert EXPLICIT_OFFSET.search(value), f"{value} has no explicit UTC offset"
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), f"{value} is not in UTC"
    return parsed


async def test_create_answers_201_with_location_and_the_task(
    client: httpx.AsyncClient, task_row: RowReader
) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/api/v1/alice/tasks",
        json={"title": "  Buy milk \n", "description": "  two litres  ", "completed": True},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert uuid.UUID(task["id"])
    assert task["title"] == "Buy milk"  # trimmed
    assert task["description"] == "  two litres  "  # stored as given
    assert task["completed"] is True
    assert task["owner_id"] == "alice"
    created = parse_timestamp(task["created_at"])
    assert parse_timestamp(task["updated_at"]) == created
    assert before - timedelta(seconds=5) < created < datetime.now(UTC) + timedelta(seconds=5)
    assert response.headers["location"] == f"/api/v1/alice/tasks/{task['id']}"

    row = await task_row(task["id"])
    assert row is not None
    assert row["title"] == "Buy milk"
    assert row["description"] == "  two litres  "
    assert row["owner_id"] == "alice"


async def test_create_defaults_description_to_null_and_completed_to_false(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/alice/tasks", json={"title": "x"}, headers=auth())
    assert response.status_code == 201
    assert response.json()["description"] is None
    assert response.json()["completed"] is False


async def test_location_leads_to_the_same_task(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/alice/tasks", json={"title": "x"}, headers=auth())
    fetched = await client.get(created.headers["location"], headers=auth())
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


async def test_opaque_user_ids_are_quoted_in_location(client: httpx.AsyncClient) -> None:
    # Identity providers' ids are opaque strings; some carry characters that need quoting.
    user = "auth0|5f1c e"
    created = await client.post(
        "/api/v1/auth0%7C5f1c%20e/tasks", json={"title": "x"}, headers=auth(user)
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == (f"/api/v1/auth0%7C5f1c%20e/tasks/{created.json()['id']}")
    assert created.json()["owner_id"] == user
    fetched = await client.get(created.headers["location"], headers=auth(user))
    assert fetched.status_code == 200
    assert fetched.json()["id"] == created.json()["id"]


async def test_get_returns_the_task(client: httpx.AsyncClient, create_task: TaskMaker) -> None:
    task = await create_task(title="Read me", description="d")
    response = await client.get(f"/api/v1/alice/tasks/{task['id']}", headers=auth())
    assert response.status_code == 200
    assert response.json() == task


async def test_get_of_a_missing_task_is_404_task_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/alice/tasks/{uuid.uuid4()}", headers=auth())
    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found.", "code": "task_not_found"}


@pytest.mark.parametrize("task_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
async def test_a_malformed_task_id_is_422_and_never_reaches_the_database(
    client: httpx.AsyncClient, db: asyncpg.Connection, task_id: str
) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method, f"/api/v1/alice/tasks/{task_id}", json={"title": "x"}, headers=auth()
        )
        assert response.status_code == 422, (method, response.text)
        assert response.json()["code"] == "validation_error"
        assert response.json()["detail"][0]["loc"] == ["path", "task_id"]
    response = await client.patch(f"/api/v1/alice/tasks/{task_id}/complete", headers=auth())
    assert response.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_timestamps_are_utc_with_an_explicit_offset_and_keep_microseconds(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await create_task()
    moment = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    await db.execute(
        "UPDATE tasks SET created_at = $1, updated_at = $1::timestamptz + interval '1 microsecond' "
        "WHERE id = $2",
        moment,
        uuid.UUID(task["id"]),
    )
    fetched = (await client.get(f"/api/v1/alice/tasks/{task['id']}", headers=auth())).json()
    assert parse_timestamp(fetched["created_at"]) == moment
    assert parse_timestamp(fetched["updated_at"]) == moment + timedelta(microseconds=1)
    assert ".123456" in fetched["created_at"]
    assert ".123457" in fetched["updated_at"]
