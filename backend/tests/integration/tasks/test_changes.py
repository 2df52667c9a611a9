"""The change feed: every current task to start, then what changed since a cursor, with
tombstones for deletions; complete while writes happen; old or foreign cursors refused."""

import asyncio
import json
import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.database import Database
from app.sync import service as sync_service
from app.sync.cursor import Cursor, decode, encode
from app.tasks import service as tasks_service
from tests.conftest import app_state, auth
from tests.integration.tasks.conftest import Json, TaskMaker

pytestmark = pytest.mark.anyio

CHANGES = "/api/v1/alice/tasks/changes"


async def fetch(
    client: httpx.AsyncClient, since: str | None = None, limit: int | None = None
) -> httpx.Response:
    params: dict[str, Any] = {}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    return await client.get(CHANGES, params=params, headers=auth())


async def page(client: httpx.AsyncClient, since: str | None = None, limit: int = 100) -> Json:
    response = await fetch(client, since, limit)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


class Replica:
    """What a client holds: it applies pages in order, as docs/api.md tells clients to."""

    def __init__(self) -> None:
        self.tasks: dict[str, Json] = {}
        self.cursor: str | None = None

    async def sync(self, client: httpx.AsyncClient, limit: int = 100) -> int:
        pages = 0
        while True:
            body = await page(client, self.cursor, limit)
            pages += 1
            ids = [task["id"] for task in body["changes"]]
            assert len(ids) == len(set(ids)), "a task twice in one page"
            assert not set(ids) & set(body["deleted"]), "a task changed and deleted in one page"
            for task in body["changes"]:
                self.tasks[task["id"]] = task
            for task_id in body["deleted"]:
                self.tasks.pop(task_id, None)
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return pages

    def versions(self) -> dict[str, int]:
        return {task_id: task["version"] for task_id, task in self.tasks.items()}


async def live_versions(db: asyncpg.Connection, owner: str = "alice") -> dict[str, int]:
    rows = await db.fetch(
        "SELECT id, version FROM tasks WHERE owner_id = $1 AND deleted_at IS NULL", owner
    )
    return {str(row["id"]): row["version"] for row in rows}


async def trash(client: httpx.AsyncClient, task_id: str) -> None:
    response = await client.delete(f"/api/v1/alice/tasks/{task_id}", headers=auth())
    assert response.status_code == 204


async def restore(client: httpx.AsyncClient, task_id: str) -> Json:
    response = await client.post(f"/api/v1/alice/tasks/{task_id}/restore", headers=auth())
    assert response.status_code == 200
    task: Json = response.json()
    return task


# Without a cursor


async def test_without_since_every_current_task_paged_then_a_cursor(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    tasks = [await create_task(title=f"t{n}") for n in range(5)]
    await trash(client, tasks[2]["id"])
    await create_task("bob")

    first = await page(client, limit=2)
    assert [t["id"] for t in first["changes"]] == [tasks[0]["id"], tasks[1]["id"]]
    assert first["changes"][0] == tasks[0]  # the task as the API shows it
    assert first["deleted"] == []
    assert first["has_more"] is True
    second = await page(client, first["cursor"], limit=2)
    assert [t["id"] for t in second["changes"]] == [tasks[3]["id"], tasks[4]["id"]]
    # The page ended exactly at the last task, but the server only knows once it asks again.
    last = await page(client, second["cursor"], limit=2)
    assert last["changes"] == []
    assert last["has_more"] is False
    # Nothing has changed since: the same cursor stays valid and returns nothing.
    again = await page(client, last["cursor"])
    assert (again["changes"], again["deleted"], again["has_more"]) == ([], [], False)


async def test_an_empty_account_gets_an_empty_page_and_a_cursor(
    client: httpx.AsyncClient,
) -> None:
    body = await page(client)
    assert (body["changes"], body["deleted"], body["has_more"]) == ([], [], False)
    assert isinstance(body["cursor"], str)
    assert (await page(client, body["cursor"]))["changes"] == []


async def test_the_first_page_carries_no_tombstones(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    trashed = await create_task()
    await trash(client, trashed["id"])
    body = await page(client)
    assert (body["changes"], body["deleted"]) == ([], [])


# With a cursor


async def test_since_a_cursor_each_changed_task_once_in_its_latest_state(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    untouched = await create_task(title="untouched")
    changed = await create_task(title="changed")
    cursor = (await page(client))["cursor"]

    url = f"/api/v1/alice/tasks/{changed['id']}"
    await client.patch(url, json={"title": "once"}, headers=auth())
    await client.patch(f"{url}/complete", headers=auth())
    latest = (await client.patch(url, json={"title": "twice"}, headers=auth())).json()
    created = await create_task(title="new")

    body = await page(client, cursor)
    assert body["changes"] == [latest, created]
    assert body["deleted"] == []
    assert untouched["id"] not in {t["id"] for t in body["changes"]}


async def test_trashed_and_removed_tasks_are_reported_deleted(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    kept, trashed, removed = [await create_task() for _ in range(3)]
    cursor = (await page(client))["cursor"]
    await trash(client, trashed["id"])
    await trash(client, removed["id"])
    gone = await client.delete(f"/api/v1/alice/tasks/trash/{removed['id']}", headers=auth())
    assert gone.status_code == 204

    body = await page(client, cursor)
    assert body["changes"] == []
    assert body["deleted"] == [trashed["id"], removed["id"]]
    assert kept["id"] not in body["deleted"]


async def test_a_restored_task_comes_back_and_is_no_longer_reported_deleted(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    before_trash = (await page(client))["cursor"]
    await trash(client, task["id"])
    after_trash = (await page(client, before_trash))["cursor"]
    restored = await restore(client, task["id"])

    for cursor in (before_trash, after_trash):
        body = await page(client, cursor)
        assert body["changes"] == [restored]
        assert body["deleted"] == []


async def test_a_page_cut_inside_a_run_of_equal_change_numbers_loses_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    # Rows loaded in bulk, outside the API, may share a change number (0, the default).
    await create_task()
    await db.execute(
        "INSERT INTO tasks (owner_id, title) "
        "SELECT 'alice', 'bulk ' || n FROM generate_series(1, 7) n"
    )
    replica = Replica()
    assert await replica.sync(client, limit=2) == 4
    assert replica.versions() == await live_versions(db)


async def test_another_users_changes_never_appear(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    cursor = (await page(client))["cursor"]
    bobs = await create_task("bob")
    response = await client.delete(f"/api/v1/bob/tasks/{bobs['id']}", headers=auth("bob"))
    assert response.status_code == 204
    body = await page(client, cursor)
    assert (body["changes"], body["deleted"]) == ([], [])
    forbidden = await client.get("/api/v1/bob/tasks/changes", headers=auth())
    assert forbidden.status_code == 403


# Refused cursors and parameters


@pytest.mark.parametrize("since", ["", "garbage", "eyJ", "A" * 300, "djEuMS4x"])
async def test_a_malformed_cursor_is_422(client: httpx.AsyncClient, since: str) -> None:
    response = await fetch(client, since)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, 501, -1, "x"])
async def test_a_limit_outside_1_to_500_is_422(client: httpx.AsyncClient, limit: Any) -> None:
    response = await fetch(client, limit=limit)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_the_limit_defaults_to_100_and_goes_up_to_500(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    await create_task()
    await db.execute(
        "INSERT INTO tasks (owner_id, title, change_seq) "
        "SELECT 'alice', 'bulk', n FROM generate_series(1, 600) n"
    )
    assert len((await page(client))["changes"]) == 100
    assert len((await page(client, limit=500))["changes"]) == 500


async def test_a_cursor_older_than_the_kept_tombstones_is_410(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    old, newer = await create_task(), await create_task()
    stale = (await page(client))["cursor"]
    await trash(client, old["id"])
    synced = (await page(client, stale))["cursor"]
    await trash(client, newer["id"])
    await db.execute(
        "UPDATE tombstones SET deleted_at = now() - interval '91 days' WHERE task_id = $1",
        uuid.UUID(old["id"]),
    )
    async with db.transaction():
        purged, more = await sync_service.purge_expired_tombstones(db, 90, 100)
    assert (purged, more) == (1, False)

    response = await fetch(client, stale)
    assert response.status_code == 410
    assert response.json()["code"] == "cursor_expired"
    # A client that had seen the purged deletion loses nothing, and is served.
    body = await page(client, synced)
    assert body["deleted"] == [newer["id"]]
    # Starting again without a cursor always works.
    assert (await page(client))["has_more"] is False


async def test_the_tombstone_sweep_keeps_recent_tombstones_and_other_owners_horizons(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    alices, bobs = await create_task(), await create_task("bob")
    bob_cursor = (await client.get("/api/v1/bob/tasks/changes", headers=auth("bob"))).json()
    await trash(client, alices["id"])
    await client.delete(f"/api/v1/bob/tasks/{bobs['id']}", headers=auth("bob"))
    await db.execute("UPDATE tombstones SET deleted_at = now() - interval '89 days'")
    async with db.transaction():
        assert await sync_service.purge_expired_tombstones(db, 90, 100) == (0, False)
    await db.execute(
        "UPDATE tombstones SET deleted_at = now() - interval '100 days' WHERE owner_id = 'alice'"
    )
    async with db.transaction():
        assert await sync_service.purge_expired_tombstones(db, 90, 100) == (1, False)
    rows = await db.fetch("SELECT id, purged_change_seq FROM users")
    horizons = {row["id"]: row["purged_change_seq"] for row in rows}
    assert horizons["bob"] == 0
    assert horizons["alice"] > 0
    response = await client.get(
        "/api/v1/bob/tasks/changes",
        params={"since": bob_cursor["cursor"]},
        headers=auth("bob"),
    )
    assert response.status_code == 200
    assert response.json()["deleted"] == [bobs["id"]]


async def test_a_cursor_from_before_an_erasure_is_410(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task()
    cursor = (await page(client))["cursor"]
    assert (await client.delete("/api/v1/alice", headers=auth())).status_code == 204
    await create_task()
    await create_task()
    response = await fetch(client, cursor)
    assert response.status_code == 410
    assert response.json()["code"] == "cursor_expired"


async def test_a_cursor_of_another_account_or_from_the_future_is_410(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task("bob")
    bobs = (await client.get("/api/v1/bob/tasks/changes", headers=auth("bob"))).json()
    assert (await fetch(client, bobs["cursor"])).status_code == 410
    mine = decode((await page(client))["cursor"])
    ahead = encode(Cursor(mine.epoch, mine.seq + 5))
    response = await fetch(client, ahead)
    assert response.status_code == 410
    assert response.json()["code"] == "cursor_expired"


# Completeness under concurrent writes


async def test_change_numbers_commit_in_order_so_a_cursor_never_skips_a_slow_write(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    slow, fast = await create_task(title="slow"), await create_task(title="fast")
    cursor = (await page(client))["cursor"]
    async with db.transaction():
        # A write that has taken its change number but not committed yet...
        await tasks_service.update_task(db, "alice", uuid.UUID(slow["id"]), {"title": "slow 2"})
        # ...makes the next write of the same user wait for it,
        patch = asyncio.create_task(
            client.patch(
                f"/api/v1/alice/tasks/{fast['id']}", json={"title": "fast 2"}, headers=auth()
            )
        )
        await asyncio.sleep(0.3)
        assert not patch.done()
        # and a reader meanwhile sees neither, and gets a cursor from before both.
        during = await page(client, cursor)
        assert during["changes"] == []
    assert (await patch).status_code == 200
    after = await page(client, during["cursor"])
    assert [t["title"] for t in after["changes"]] == ["slow 2", "fast 2"]


async def test_replaying_the_feed_during_concurrent_writes_yields_exactly_the_live_tasks(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    rng = random.Random(8)
    live: list[str] = [(await create_task(title=f"seed {n}"))["id"] for n in range(15)]
    trashed: list[str] = []
    writing = True
    late_reader_synced = asyncio.Event()

    async def writer(number: int) -> None:
        for step in range(35):
            if step == 17:
                # Half-way, wait for the late reader's first sync: on a fast machine the
                # writers could otherwise be done before it started, and nothing would race.
                await late_reader_synced.wait()
            choice = rng.random()
            if choice < 0.25 or not live:
                task = await create_task(title=f"w{number} {step}")
                live.append(task["id"])
            elif choice < 0.5:
                url = f"/api/v1/alice/tasks/{rng.choice(live)}"
                edited = await client.patch(url, json={"title": f"e{step}"}, headers=auth())
                # 404: another writer trashed it meanwhile.
                assert edited.status_code in (200, 404), edited.text
            elif choice < 0.6:
                url = f"/api/v1/alice/tasks/{rng.choice(live)}/complete"
                toggled = await client.patch(url, headers=auth())
                assert toggled.status_code in (200, 404), toggled.text
            elif choice < 0.8:
                task_id = live.pop(rng.randrange(len(live)))
                await trash(client, task_id)
                trashed.append(task_id)
            elif trashed and choice < 0.93:
                task_id = trashed.pop(rng.randrange(len(trashed)))
                await restore(client, task_id)
                live.append(task_id)
            elif trashed:
                task_id = trashed.pop(rng.randrange(len(trashed)))
                url = f"/api/v1/alice/tasks/trash/{task_id}"
                assert (await client.delete(url, headers=auth())).status_code == 204
            await asyncio.sleep(0)

    async def reader(replica: Replica, start_after: float) -> int:
        await asyncio.sleep(start_after)
        syncs = 0
        while writing:
            await replica.sync(client, limit=3)
            syncs += 1
            if replica is late:
                late_reader_synced.set()
        return syncs

    early, late = Replica(), Replica()
    readers = asyncio.gather(reader(early, 0), reader(late, 0.2))
    await asyncio.gather(*(writer(n) for n in range(4)))
    writing = False
    syncs = await readers
    assert min(syncs) >= 2, "the readers should have synced while the writers ran"

    expected = await live_versions(db)
    for replica in (early, late):
        await replica.sync(client, limit=3)
        assert replica.versions() == expected
    listed = await client.get("/api/v1/alice/tasks?limit=100", headers=auth())
    assert {t["id"]: t for t in listed.json()["tasks"]} == early.tasks
    assert len(expected) == listed.json()["total"]


async def test_the_feed_reads_its_indexes(db: asyncpg.Connection) -> None:
    async with db.transaction():
        # On a table this small any plan is cheap, and which one wins depends on statistics
        # the earlier tests left: rule out scans and sorts, so that the plan shows whether the
        # feed can read its indexes in its order at all.
        await db.execute("SET LOCAL enable_seqscan = off")
        await db.execute("SET LOCAL enable_sort = off")
        plan = await db.fetchval(
            f"EXPLAIN (FORMAT JSON) {sync_service._FEED}",
            "alice",
            5,
            uuid.UUID(int=0),
            101,
            True,
        )
    text = json.dumps(plan)
    assert "ix_tasks_owner_change" in text
    assert "ix_tombstones_owner_change" in text


async def test_the_feed_of_an_account_erased_by_another_process_starts_a_new_one(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    await create_task()
    # This process still believes the user is stored.
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    body = await page(client)
    assert (body["changes"], body["has_more"]) == ([], False)
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'alice'") == 1
    database: Database = app_state(client).database
    assert (await sync_service.change_feed(database, "alice", None, 10)).changes == []
