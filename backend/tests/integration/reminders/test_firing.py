"""Reminders that fire, one round at a time on the real database: what a round emits (the
event's shape and cursor), the grace rule, rescheduling and cancelling by every kind of
change, once per task, offset and due time, isolation, retention and erasure."""

import asyncio
from datetime import datetime, timedelta

import asyncpg
import httpx
import orjson
import pytest

from app.core.config import Settings
from app.core.housekeeping import Housekeeping
from app.events import service as events_service
from app.main import retention_jobs
from app.sync.cursor import decode
from tests.conftest import app_state, auth
from tests.integration.reminders.conftest import Fire, Json, at, call

pytestmark = pytest.mark.anyio

REMINDER_EVENTS = """
SELECT id, owner_id, task_id, change_seq, data::text AS data, data->>'offset' AS "offset",
       data->>'remind_at' AS remind_at, created_at
FROM events WHERE type = 'reminder.due' ORDER BY id
"""


async def reminder_events(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(REMINDER_EVENTS)


async def schedule(db: asyncpg.Connection, task_id: str) -> list[tuple[str, bool | None]]:
    """The task's instants (offset, whether handled) in remind_at order."""
    rows = await db.fetch(
        "SELECT reminder_offset, fired_at IS NOT NULL AS handled FROM reminder_schedule "
        "WHERE task_id = $1 ORDER BY remind_at, reminder_offset",
        task_id,
    )
    return [(row["reminder_offset"], row["handled"]) for row in rows]


async def test_a_due_reminder_fires_once_as_reminder_due_with_the_task_and_the_feed_cursor(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    task = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "Pay rent", "due_at": at(minutes=10), "reminders": ["PT15M", "PT5M"]},
    )
    # PT15M is already 5 minutes past: it fires at once. PT5M is 5 minutes away.
    assert (await fire()).emitted == 1
    assert (await fire()).emitted == 0
    [event] = await reminder_events(db)
    assert event["offset"] == "PT15M"
    assert event["owner_id"] == "alice"
    assert str(event["task_id"]) == task["id"]
    # The documented shape: the task exactly as the API answers it, the instant and offset.
    data = orjson.loads(event["data"])
    assert list(data) == ["task", "remind_at", "offset"]
    assert data["task"] == await call(client, "GET", f"/tasks/{task['id']}")
    remind_at = datetime.fromisoformat(data["remind_at"])
    assert remind_at == datetime.fromisoformat(task["due_at"]) - timedelta(minutes=15)
    assert data["remind_at"].endswith("Z")
    # Its cursor is the change feed's at the moment it fired: nothing changed after it.
    feed = await call(client, "GET", "/tasks/changes")
    assert event["change_seq"] == decode(feed["cursor"]).seq
    assert await schedule(db, task["id"]) == [("PT15M", True), ("PT5M", False)]


async def test_the_grace_rule_a_late_reminder_fires_at_once_a_later_one_is_skipped(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    within = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "late", "due_at": at(minutes=-30), "reminders": ["PT0S", "PT1H"]},
    )
    # PT0S is 30 minutes late (emitted); PT1H is 90 minutes late (skipped).
    round_ = await fire()
    assert (round_.emitted, round_.skipped) == (1, 1)
    events = await reminder_events(db)
    assert [(str(e["task_id"]), e["offset"]) for e in events] == [(within["id"], "PT0S")]
    handled = await db.fetch(
        "SELECT reminder_offset, emitted FROM reminder_schedule WHERE task_id = $1 "
        "ORDER BY reminder_offset",
        within["id"],
    )
    assert [(r["reminder_offset"], r["emitted"]) for r in handled] == [
        ("PT0S", True),
        ("PT1H", False),
    ]
    # With a shorter grace, 30 minutes late is too late.
    other = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "later", "due_at": at(minutes=-30), "reminders": ["PT0S"]},
    )
    round_ = await fire(grace_minutes=20)
    assert (round_.emitted, round_.skipped) == (0, 1)
    assert len(await reminder_events(db)) == 1
    # Handled: never looked at again.
    assert (await fire()).emitted == 0
    assert await schedule(db, other["id"]) == [("PT0S", True)]


async def test_a_future_reminder_does_not_fire_before_its_instant(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    task = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "soon", "due_at": at(seconds=2), "reminders": ["PT0S"]},
    )
    assert (await fire()).emitted == 0
    await db.execute(
        "UPDATE reminder_schedule SET remind_at = now() - interval '1 second' WHERE task_id = $1",
        task["id"],
    )
    assert (await fire()).emitted == 1


async def test_changing_due_at_or_reminders_reschedules(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    task = await call(
        client, "POST", "/tasks", json={"title": "t", "due_at": at(hours=5), "reminders": ["PT1H"]}
    )
    path = f"/tasks/{task['id']}"
    assert await schedule(db, task["id"]) == [("PT1H", False)]
    # Moved so that its reminder is now (a few minutes late): it fires.
    await call(client, "PATCH", path, json={"due_at": at(minutes=55)})
    assert await schedule(db, task["id"]) == [("PT1H", False)]
    assert (await fire()).emitted == 1
    # Another offset: only the new instant is to come; the one handled stays handled.
    await call(client, "PATCH", path, json={"reminders": ["PT10M"]})
    assert await schedule(db, task["id"]) == [("PT1H", True), ("PT10M", False)]
    assert (await fire()).emitted == 0
    await call(client, "PATCH", path, json={"reminders": ["PT55M", "PT10M"]})
    assert (await fire()).emitted == 1
    offsets = [e["offset"] for e in await reminder_events(db)]
    assert offsets == ["PT1H", "PT55M"]
    # No reminders left, or no due date: nothing to come.
    await call(client, "PATCH", path, json={"reminders": []})
    assert await schedule(db, task["id"]) == [("PT1H", True), ("PT55M", True)]
    await call(client, "PATCH", path, json={"reminders": ["PT0S"], "due_at": None})
    assert await schedule(db, task["id"]) == [("PT1H", True), ("PT55M", True)]


async def test_a_due_time_that_moves_away_and_back_does_not_fire_twice(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    due = at(minutes=-1)
    task = await call(
        client, "POST", "/tasks", json={"title": "t", "due_at": due, "reminders": ["PT0S"]}
    )
    path = f"/tasks/{task['id']}"
    assert (await fire()).emitted == 1
    await call(client, "PATCH", path, json={"due_at": at(hours=1)})
    await call(client, "PATCH", path, json={"due_at": due})
    await call(client, "PUT", path, json={"title": "t", "due_at": due, "reminders": ["PT0S"]})
    assert (await fire()).emitted == 0
    # Completed and reopened: the same instant, already handled.
    await call(client, "PATCH", f"{path}/complete", json={"completed": True})
    await call(client, "PATCH", f"{path}/complete", json={"completed": False})
    assert (await fire()).emitted == 0
    assert len(await reminder_events(db)) == 1


async def test_completing_or_trashing_cancels_reopening_or_restoring_reschedules(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    completed = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "done", "due_at": at(minutes=-1), "reminders": ["PT0S"]},
    )
    trashed = await call(
        client,
        "POST",
        "/tasks",
        json={"title": "gone", "due_at": at(minutes=-1), "reminders": ["PT0S"]},
    )
    await call(client, "PATCH", f"/tasks/{completed['id']}/complete", json={"completed": True})
    await call(client, "DELETE", f"/tasks/{trashed['id']}")
    assert (await fire()).emitted == 0
    assert await reminder_events(db) == []
    assert await schedule(db, completed["id"]) == []
    assert await schedule(db, trashed["id"]) == []
    # Reopened and restored: the instants are back (a minute late, within the grace).
    await call(client, "PATCH", f"/tasks/{completed['id']}/complete", json={"completed": False})
    await call(client, "POST", f"/tasks/{trashed['id']}/restore")
    assert (await fire()).emitted == 2
    fired = {str(e["task_id"]) for e in await reminder_events(db)}
    assert fired == {completed["id"], trashed["id"]}
    # Removed for good: its schedule goes with it.
    await call(client, "DELETE", f"/tasks/{trashed['id']}")
    await call(client, "DELETE", f"/tasks/trash/{trashed['id']}")
    assert await schedule(db, trashed["id"]) == []


async def test_tasks_created_completed_or_without_a_due_date_schedule_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await call(client, "POST", "/tasks", json={"title": "plain", "due_at": at(hours=1)})
    await call(client, "POST", "/tasks", json={"title": "undated", "reminders": ["PT0S"]})
    await call(
        client,
        "POST",
        "/tasks",
        json={"title": "done", "due_at": at(hours=1), "reminders": ["PT0S"], "completed": True},
    )
    assert await db.fetchval("SELECT count(*) FROM reminder_schedule") == 0


async def test_completing_a_repeating_task_schedules_the_next_occurrence(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    task = await call(
        client,
        "POST",
        "/tasks",
        json={
            "title": "daily",
            "due_at": at(days=-1, seconds=30),
            "recurrence": "FREQ=DAILY",
            "reminders": ["PT1M"],
        },
    )
    done = await call(client, "PATCH", f"/tasks/{task['id']}/complete", json={"completed": True})
    assert await schedule(db, task["id"]) == []
    # The next occurrence is due in 30 seconds: its reminder was 30 seconds ago.
    assert await schedule(db, done["next_id"]) == [("PT1M", False)]
    assert (await fire()).emitted == 1
    [event] = await reminder_events(db)
    assert str(event["task_id"]) == done["next_id"]


async def test_each_user_gets_only_their_own_reminders(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    for user in ("alice", "bob"):
        await call(
            client,
            "POST",
            "/tasks",
            user=user,
            json={"title": f"{user}'s", "due_at": at(minutes=-1), "reminders": ["PT0S"]},
        )
    assert (await fire()).emitted == 2
    rows = await db.fetch(
        "SELECT owner_id, data->'task'->>'owner_id' AS task_owner, "
        "data->'task'->>'title' AS title FROM events WHERE type = 'reminder.due' "
        "ORDER BY owner_id"
    )
    assert [tuple(row) for row in rows] == [
        ("alice", "alice", "alice's"),
        ("bob", "bob", "bob's"),
    ]
    # Each one's change number is their own feed's.
    for user in ("alice", "bob"):
        feed = await call(client, "GET", "/tasks/changes", user=user)
        seq = await db.fetchval(
            "SELECT change_seq FROM events WHERE type = 'reminder.due' AND owner_id = $1", user
        )
        assert seq == decode(feed["cursor"]).seq


async def test_the_sweep_removes_instants_handled_before_the_retention_and_erasure_all(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    for user in ("alice", "bob"):
        await call(
            client,
            "POST",
            "/tasks",
            user=user,
            json={"title": "t", "due_at": at(minutes=-1), "reminders": ["PT0S", "PT1M"]},
        )
    await fire()
    # One of alice's handled instants is older than the retention (and the grace).
    await db.execute(
        "UPDATE reminder_schedule SET fired_at = now() - interval '73 hours', "
        "remind_at = now() - interval '73 hours', due_at = now() - interval '73 hours' "
        "WHERE owner_id = 'alice' AND reminder_offset = 'PT1M'"
    )
    settings = Settings(_env_file=None, event_retention_hours=72)
    handled = await Housekeeping(app_state(client).database, retention_jobs(settings), 0).run_once()
    assert handled is not None
    assert handled["reminder_schedule"] == 1
    left = await db.fetch("SELECT owner_id, reminder_offset FROM reminder_schedule ORDER BY 1, 2")
    assert [tuple(r) for r in left] == [("alice", "PT0S"), ("bob", "PT0S"), ("bob", "PT1M")]

    erased = await client.delete("/api/v1/alice", headers=auth())
    assert erased.status_code == 204
    owners = await db.fetch("SELECT DISTINCT owner_id FROM reminder_schedule")
    assert [r["owner_id"] for r in owners] == ["bob"]
    assert {r["owner_id"] for r in await reminder_events(db)} == {"bob"}


async def test_one_round_fires_every_due_reminder_of_an_owner_in_order(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    tasks: list[Json] = []
    for minutes in (-3, -1, -2):
        tasks.append(
            await call(
                client,
                "POST",
                "/tasks",
                json={"title": f"{minutes}", "due_at": at(minutes=minutes), "reminders": ["PT0S"]},
            )
        )
    assert (await fire()).emitted == 3
    events = await reminder_events(db)
    assert [e["remind_at"] for e in events] == sorted(e["remind_at"] for e in events)
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)


async def test_a_round_skips_an_owner_busy_writing_and_fires_once_released(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    await call(
        client,
        "POST",
        "/tasks",
        json={"title": "t", "due_at": at(minutes=-1), "reminders": ["PT0S"]},
    )
    # A writer of alice's holds her row (every task write does, until it commits).
    async with db.transaction():
        await db.execute("SELECT FROM users WHERE id = 'alice' FOR UPDATE")
        busy = await fire()
        assert (busy.emitted, busy.contended) == (0, True)
    released = await fire()
    assert (released.emitted, released.contended) == (1, False)


async def test_rounds_running_at_once_fire_each_instant_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    users = [f"user-{number}" for number in range(12)]
    for user in users:
        for minutes in (-2, -1):
            await call(
                client,
                "POST",
                "/tasks",
                user=user,
                json={"title": "t", "due_at": at(minutes=minutes), "reminders": ["PT0S", "PT1S"]},
            )
    rounds = await asyncio.gather(*(fire() for _ in range(6)))
    while any(r.contended for r in rounds):
        rounds = [await fire()]
    assert sum(r.emitted for r in await asyncio.gather(fire(), fire())) == 0
    rows = await db.fetch(
        "SELECT task_id, data->>'offset' AS o, count(*) AS n FROM events "
        "WHERE type = 'reminder.due' GROUP BY 1, 2"
    )
    assert len(rows) == len(users) * 4
    assert {row["n"] for row in rows} == {1}


async def test_since_a_cursor_is_complete_only_if_the_next_changes_event_is_kept(
    client: httpx.AsyncClient, db: asyncpg.Connection, fire: Fire
) -> None:
    database = app_state(client).database
    task = await call(
        client, "POST", "/tasks", json={"title": "t", "due_at": at(hours=1), "reminders": ["PT0S"]}
    )
    first = (await call(client, "GET", "/tasks/changes"))["cursor"]
    await call(client, "PATCH", f"/tasks/{task['id']}", json={"due_at": at(minutes=-1)})
    second = (await call(client, "GET", "/tasks/changes"))["cursor"]
    assert (await fire()).emitted == 1
    [change, reminder] = await db.fetch(
        "SELECT id, type FROM events WHERE change_seq = $1 ORDER BY id", decode(second).seq
    )
    assert (change["type"], reminder["type"]) == ("task.updated", "reminder.due")

    async def start(since: str) -> tuple[int, bool]:
        opened = await events_service.open_stream(
            database, "alice", last_event_id=None, since=since, max_streams=5, lease_seconds=60
        )
        await events_service.close_stream(database, opened.stream_id)
        return opened.after_id, opened.reset

    # After the first change: the second change's event, then the reminder.
    assert await start(first) == (change["id"] - 1, False)
    # After the second change (the reminder's own cursor): the reminder.
    assert await start(second) == (reminder["id"] - 1, False)
    # The second change's event no longer kept, its reminder still is: resuming after the
    # first change would miss a change, so the client is told to sync again.
    await db.execute("DELETE FROM events WHERE id = $1", change["id"])
    _, reset = await start(first)
    assert reset
