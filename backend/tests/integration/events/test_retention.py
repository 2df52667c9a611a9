"""The outbox's upkeep: the retention sweep removes events older than EVENT_RETENTION_HOURS
and the registrations of streams whose instance died; erasing an account removes its events
and emits none; a write that rolls back leaves no event."""

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.database import Database
from app.core.housekeeping import Housekeeping
from app.main import retention_jobs
from tests.conftest import app_state, auth

pytestmark = pytest.mark.anyio


async def create(client: httpx.AsyncClient, title: str, user: str = "alice") -> str:
    response = await client.post(f"/api/v1/{user}/tasks", json={"title": title}, headers=auth(user))
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


async def test_the_sweep_removes_expired_events_and_dead_streams(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for title in ("old", "older", "new"):
        await create(client, title)
    await db.execute(
        "UPDATE events SET created_at = now() - interval '73 hours' "
        "WHERE data->>'title' IN ('old', 'older')"
    )
    await db.execute(
        "INSERT INTO event_streams (id, owner_id, expires_at) VALUES "
        "(gen_random_uuid(), 'alice', now() - interval '1 minute'), "
        "(gen_random_uuid(), 'alice', now() + interval '1 minute')"
    )
    database: Database = app_state(client).database
    settings = Settings(_env_file=None, event_retention_hours=72)
    handled = await Housekeeping(database, retention_jobs(settings), 0).run_once()
    assert handled is not None
    assert (handled["events"], handled["event_streams"]) == (2, 1)
    titles = await db.fetch("SELECT data->>'title' AS title FROM events")
    assert [row["title"] for row in titles] == ["new"]
    assert await db.fetchval("SELECT count(*) FROM event_streams") == 1


async def test_erasure_removes_the_users_events_and_emits_none(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await create(client, "alice's")
    await create(client, "bob's", user="bob")
    erased = await client.delete("/api/v1/alice", headers=auth())
    assert erased.status_code == 204
    owners = await db.fetch("SELECT owner_id, type FROM events")
    assert [(row["owner_id"], row["type"]) for row in owners] == [("bob", "task.created")]


async def test_a_statement_that_rolls_back_leaves_no_event(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    task_id = await create(client, "kept")
    before = await db.fetchval("SELECT count(*) FROM events")
    await db.execute("UPDATE tasks SET title = 'x', change_seq = change_seq + 1")
    assert await db.fetchval("SELECT count(*) FROM events") == before + 1
    tx = db.transaction()
    await tx.start()
    await db.execute("UPDATE tasks SET title = 'y', change_seq = change_seq + 1")
    assert await db.fetchval("SELECT count(*) FROM events") == before + 2
    await tx.rollback()
    assert await db.fetchval("SELECT count(*) FROM events") == before + 1
    titles = await db.fetch("SELECT data->>'title' AS t FROM events WHERE task_id = $1", task_id)
    assert [row["t"] for row in titles] == ["kept", "x"]
