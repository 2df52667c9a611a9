"""DELETE moves a task to the trash; the trash lists, restores and removes for good, and
empties itself after TRASH_RETENTION_DAYS."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.database import Database
from app.core.housekeeping import LOCK_KEY, Housekeeping
from app.main import retention_jobs
from app.tasks import service as tasks_service
from app.tasks.service import PreconditionFailed, TaskNotFound
from app.trash import service as trash_service
from tests.conftest import ClientFactory, app_state, auth
from tests.integration.tasks.conftest import Json, RowReader, TaskMaker

pytestmark = pytest.mark.anyio

TRASH = "/api/v1/alice/tasks/trash"


def task_url(task: Json, owner: str = "alice") -> str:
    return f"/api/v1/{owner}/tasks/{task['id']}"


async def trash(client: httpx.AsyncClient, task: Json, owner: str = "alice") -> None:
    response = await client.delete(task_url(task, owner), headers=auth(owner))
    assert response.status_code == 204, response.text


async def trash_list(client: httpx.AsyncClient, query: str = "", owner: str = "alice") -> Json:
    response = await client.get(f"/api/v1/{owner}/tasks/trash{query}", headers=auth(owner))
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def backdate_trashing(db: asyncpg.Connection, task: Json, days: float) -> None:
    await db.execute(
        "UPDATE tasks SET deleted_at = now() - make_interval(secs => $1) WHERE id = $2",
        days * 86400,
        uuid.UUID(task["id"]),
    )


async def test_a_deleted_task_is_gone_from_every_route_but_kept_in_the_trash(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task(title="t", description="d", tags=["x"])
    kept = await create_task(title="kept")
    before = await task_row(task["id"])
    assert before is not None
    await trash(client, task)

    row = await task_row(task["id"])
    assert row is not None
    assert row["deleted_at"] is not None
    assert row["version"] == before["version"] + 1
    assert row["change_seq"] > before["change_seq"]
    url = task_url(task)
    for method, suffix, body in [
        ("GET", "", None),
        ("PUT", "", {"title": "x"}),
        ("PATCH", "", {"title": "x"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
    ]:
        response = await client.request(method, url + suffix, json=body, headers=auth())
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "task_not_found"
    listed = (await client.get("/api/v1/alice/tasks", headers=auth())).json()
    assert [t["id"] for t in listed["tasks"]] == [kept["id"]]
    assert listed["total"] == 1
    after = await task_row(task["id"])
    assert after is not None
    assert after["version"] == row["version"]  # the refused writes changed nothing

    trashed = await trash_list(client)
    assert trashed["total"] == 1
    [entry] = trashed["tasks"]
    assert entry["id"] == task["id"]
    assert (entry["title"], entry["description"], entry["tags"]) == ("t", "d", ["x"])
    assert entry["version"] == task["version"] + 1
    assert datetime.fromisoformat(entry["deleted_at"]) == row["deleted_at"]


async def test_trashing_writes_a_tombstone_with_the_change_number(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    await trash(client, task)
    row = await task_row(task["id"])
    assert row is not None
    tombstone = await db.fetchrow("SELECT * FROM tombstones WHERE task_id = $1", row["id"])
    assert tombstone is not None
    assert tombstone["owner_id"] == "alice"
    assert tombstone["change_seq"] == row["change_seq"]
    assert tombstone["deleted_at"] == row["deleted_at"]
    assert await db.fetchval("SELECT change_seq FROM users WHERE id = 'alice'") == row["change_seq"]


async def test_the_trash_lists_the_newest_deletion_first_with_paging(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    tasks = [await create_task(title=f"t{n}") for n in range(5)]
    for task in tasks:
        await trash(client, task)
    # Deleted in creation order, so t4 is the most recent; make t1 the oldest deletion.
    await backdate_trashing(db, tasks[1], days=3)
    await create_task(title="live")

    body = await trash_list(client)
    assert [t["title"] for t in body["tasks"]] == ["t4", "t3", "t2", "t0", "t1"]
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    page = await trash_list(client, "?limit=2&offset=2")
    assert [t["title"] for t in page["tasks"]] == ["t2", "t0"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    beyond = await trash_list(client, "?offset=10")
    assert beyond["tasks"] == []
    assert beyond["total"] == 5


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?offset=-1", "?limit=x"])
async def test_bad_trash_paging_is_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"{TRASH}{query}", headers=auth())
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_an_empty_trash(client: httpx.AsyncClient) -> None:
    assert await trash_list(client) == {"tasks": [], "total": 0, "limit": 50, "offset": 0}


async def test_restore_brings_the_task_back_unchanged_but_for_version_and_updated_at(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task(title="t", description="d", priority="high", tags=["a", "b"])
    await trash(client, task)
    trashed = await task_row(task["id"])
    assert trashed is not None

    response = await client.post(f"{task_url(task)}/restore", headers=auth())
    assert response.status_code == 200, response.text
    restored = response.json()
    unchanged = set(task) - {"version", "updated_at"}
    assert {key: restored[key] for key in unchanged} == {key: task[key] for key in unchanged}
    assert restored["version"] == task["version"] + 2  # trashed, then restored
    assert datetime.fromisoformat(restored["updated_at"]) > trashed["updated_at"]
    row = await task_row(task["id"])
    assert row is not None
    assert row["deleted_at"] is None
    assert row["change_seq"] > trashed["change_seq"]

    assert (await client.get(task_url(task), headers=auth())).json() == restored
    assert (await trash_list(client))["total"] == 0


async def test_restore_deletes_the_tombstone_and_a_new_deletion_writes_a_new_one(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    await trash(client, task)
    assert (await client.post(f"{task_url(task)}/restore", headers=auth())).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM tombstones") == 0
    await trash(client, task)
    row = await task_row(task["id"])
    assert row is not None
    assert await db.fetchval("SELECT change_seq FROM tombstones") == row["change_seq"]


async def test_restore_is_404_unless_the_task_is_in_the_callers_trash(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    live = await create_task()
    bobs = await create_task("bob")
    await trash(client, bobs, "bob")
    bobs_row = await task_row(bobs["id"])
    for url in (
        f"{task_url(live)}/restore",
        f"/api/v1/alice/tasks/{uuid.uuid4()}/restore",
        f"/api/v1/alice/tasks/{bobs['id']}/restore",
    ):
        response = await client.post(url, headers=auth())
        assert response.status_code == 404, url
        assert response.json()["code"] == "task_not_found"
    assert await task_row(bobs["id"]) == bobs_row
    live_row = await task_row(live["id"])
    assert live_row is not None
    assert live_row["version"] == live["version"]


async def test_restore_of_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/alice/tasks/nope/restore", headers=auth())
    assert response.status_code == 422


async def test_removing_for_good_deletes_the_row_and_keeps_the_tombstone(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    other = await create_task()
    await trash(client, task)
    await trash(client, other)
    response = await client.delete(f"{TRASH}/{task['id']}", headers=auth())
    assert response.status_code == 204
    assert response.content == b""
    assert await task_row(task["id"]) is None
    assert await task_row(other["id"]) is not None
    tombstones = await db.fetch("SELECT task_id FROM tombstones ORDER BY change_seq")
    assert [str(row["task_id"]) for row in tombstones] == [task["id"], other["id"]]
    assert [t["id"] for t in (await trash_list(client))["tasks"]] == [other["id"]]
    again = await client.delete(f"{TRASH}/{task['id']}", headers=auth())
    assert again.status_code == 404
    restore = await client.post(f"{task_url(task)}/restore", headers=auth())
    assert restore.status_code == 404


async def test_removing_for_good_is_404_for_a_live_task_or_another_users(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    live = await create_task()
    bobs = await create_task("bob")
    await trash(client, bobs, "bob")
    for task_id in (live["id"], bobs["id"], str(uuid.uuid4())):
        response = await client.delete(f"{TRASH}/{task_id}", headers=auth())
        assert response.status_code == 404
        assert response.json()["code"] == "task_not_found"
    assert await task_row(live["id"]) is not None
    assert await task_row(bobs["id"]) is not None


async def test_another_users_trash_is_never_shown(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await trash(client, await create_task("bob"), "bob")
    assert (await trash_list(client))["total"] == 0
    forbidden = await client.get("/api/v1/bob/tasks/trash", headers=auth())
    assert forbidden.status_code == 403


async def test_trashing_keeps_the_version_precondition(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    database: Database = app_state(client).database
    task_id = uuid.UUID(task["id"])
    with pytest.raises(PreconditionFailed):
        await tasks_service.delete_task(database, "alice", task_id, if_versions=[7])
    row = await task_row(task["id"])
    assert row is not None
    assert row["deleted_at"] is None
    assert await db.fetchval("SELECT count(*) FROM tombstones") == 0
    await tasks_service.delete_task(database, "alice", task_id, if_versions=[1, 2])
    with pytest.raises(TaskNotFound):
        await tasks_service.delete_task(database, "alice", task_id, if_versions=[2])


# Retention


async def test_the_sweep_removes_expired_trash_of_every_owner_and_nothing_else(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    expired = [await create_task(), await create_task("bob")]
    recent = await create_task()
    live = await create_task()
    for task in [*expired, recent]:
        await trash(client, task, task["owner_id"])
    for task in expired:
        await backdate_trashing(db, task, days=30.01)
    await backdate_trashing(db, recent, days=29.99)

    removed, more = await trash_service.purge_expired_trash(db, 30, 100)
    assert (removed, more) == (2, False)
    for task in expired:
        assert await task_row(task["id"]) is None
    assert await task_row(recent["id"]) is not None
    assert await task_row(live["id"]) is not None
    # Their tombstones stay, for clients that have not synced since.
    assert await db.fetchval("SELECT count(*) FROM tombstones") == 3


async def test_the_sweep_works_in_batches(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    for _ in range(5):
        task = await create_task()
        await trash(client, task)
        await backdate_trashing(db, task, days=40)
    database: Database = app_state(client).database
    settings = Settings(_env_file=None, trash_retention_days=30)
    housekeeping = Housekeeping(database, retention_jobs(settings), 0, batch_size=2)
    assert await housekeeping.run_once() == {
        "trash": 5,
        "tombstones": 0,
        "idempotency_keys": 0,
        "events": 0,
        "event_streams": 0,
        "reminder_schedule": 0,
    }
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_only_one_worker_sweeps_at_a_time(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker, task_row: RowReader
) -> None:
    task = await create_task()
    await trash(client, task)
    await backdate_trashing(db, task, days=31)
    database: Database = app_state(client).database
    housekeeping = Housekeeping(database, retention_jobs(Settings(_env_file=None)), 0)
    async with db.transaction():
        # Another worker is sweeping.
        assert await db.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY)
        assert await housekeeping.run_once() is None
        assert await task_row(task["id"]) is not None
    assert await housekeeping.run_once() == {
        "trash": 1,
        "tombstones": 0,
        "idempotency_keys": 0,
        "events": 0,
        "event_streams": 0,
        "reminder_schedule": 0,
    }
    assert await task_row(task["id"]) is None


def test_retention_settings_and_their_defaults() -> None:
    defaults = Settings(_env_file=None)
    assert (defaults.trash_retention_days, defaults.tombstone_retention_days) == (30, 90)
    assert defaults.housekeeping_interval_seconds == 3600
    assert Settings(_env_file=None, trash_retention_days="7").trash_retention_days == 7
    with pytest.raises(ValueError, match="trash_retention_days"):
        Settings(_env_file=None, trash_retention_days=0)


async def test_the_app_sweeps_on_its_own_at_the_configured_interval(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    settings: dict[str, Any] = {"housekeeping_interval_seconds": 0.05, "trash_retention_days": 2}
    async with client_with(**settings) as own:
        housekeeping: Housekeeping = app_state(own).housekeeping
        assert housekeeping.running
        created = await own.post("/api/v1/alice/tasks", json={"title": "t"}, headers=auth())
        task = created.json()
        await trash(own, task)
        await backdate_trashing(db, task, days=2.5)
        for _ in range(100):
            if await db.fetchval("SELECT count(*) FROM tasks") == 0:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the trash was not swept")
    # Stopping the app stopped the loop (no task left running against a closed pool).
    assert not housekeeping.running


async def test_the_sweep_is_off_with_a_zero_interval(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    async with client_with(housekeeping_interval_seconds=0) as own:
        housekeeping: Housekeeping = app_state(own).housekeeping
        assert not housekeeping.running
        assert (await own.get("/healthz")).status_code == 200
