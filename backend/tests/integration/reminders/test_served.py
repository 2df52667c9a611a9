"""Reminders that fire, with two served processes on one database, each running its firing
loop: every instant emitted once, within 5 s, seen on a real SSE stream; another user's stream
never sees it; resuming with Last-Event-ID or ?since= across reminder.due events."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from app.sync.cursor import decode
from tests.conftest import auth
from tests.integration.events.sse import HANG_SECONDS, Message, open_stream
from tests.integration.reminders.conftest import at
from tests.integration.serve.served_app import ServedApp, served_app

pytestmark = pytest.mark.anyio

# The contract: within 5 s of the instant.
FIRE_WITHIN = 5.0


@pytest.fixture(scope="module")
def pair(app_database_url: str, database_url: str) -> Iterator[tuple[ServedApp, ServedApp]]:
    """Two instances, each with its firing loop (every second, the default). Streams learn of
    events through NOTIFY only: their keep-alive is minutes away."""
    settings = {"SSE_KEEPALIVE_SECONDS": "120", "REMINDER_POLL_SECONDS": "1"}
    with (
        served_app(app_database_url, database_url, **settings) as first,
        served_app(app_database_url, database_url, **settings) as second,
    ):
        yield first, second


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


async def api(base_url: str, method: str, path: str, user: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=base_url, timeout=HANG_SECONDS) as http:
        response = await http.request(method, f"/api/v1/{user}{path}", headers=auth(user), **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def late(message: Message) -> float:
    """Seconds between a reminder's instant and now (its arrival)."""
    remind_at = datetime.fromisoformat(message.data["data"]["remind_at"])
    return (datetime.now(UTC) - remind_at).total_seconds()


async def test_each_instant_fires_once_within_5_s_with_two_processes_firing(
    pair: tuple[ServedApp, ServedApp], db: asyncpg.Connection
) -> None:
    first, second = pair
    watched = new_user()
    others = [new_user() for _ in range(8)]
    async with open_stream(second.base_url, watched) as stream:
        task = await api(
            first.base_url,
            "POST",
            "/tasks",
            watched,
            json={"title": "watched", "due_at": at(seconds=3), "reminders": ["PT0S", "PT1S"]},
        )
        assert (await stream.next()).event == "task.created"
        # Many instants of many owners at the same moments, half written through each
        # instance: both loops find them due at once and race for them.
        expected = {(task["id"], "PT0S"), (task["id"], "PT1S")}
        for number, user in enumerate(others):
            base = (first, second)[number % 2].base_url
            for due in (at(seconds=2.5), at(seconds=3)):
                created = await api(
                    base,
                    "POST",
                    "/tasks",
                    user,
                    json={"title": "other", "due_at": due, "reminders": ["PT0S", "PT1S", "PT2S"]},
                )
                expected |= {(created["id"], offset) for offset in ("PT0S", "PT1S", "PT2S")}

        received = await stream.take(2, within=10)
        assert [m.event for m in received] == ["reminder.due", "reminder.due"]
        assert [m.data["data"]["offset"] for m in received] == ["PT1S", "PT0S"]
        for message in received:
            assert message.id == message.data["id"]
            assert message.data["type"] == "reminder.due"
            assert message.data["data"]["task"] == task
            assert 0 <= late(message) < FIRE_WITHIN, late(message)

        # Every loop has had several more rounds: still one event per instant.
        await asyncio.sleep(3)
        rows = await db.fetch(
            "SELECT task_id::text AS task, data->>'offset' AS offset, count(*) AS times "
            "FROM events WHERE type = 'reminder.due' AND owner_id = ANY($1) "
            "GROUP BY 1, 2",
            [watched, *others],
        )
        assert {(r["task"], r["offset"]) for r in rows} == expected
        assert [r for r in rows if r["times"] != 1] == []
        # ... the event within 5 s of its instant, by the database's clock too.
        slowest = await db.fetchval(
            "SELECT max(extract(epoch FROM created_at - (data->>'remind_at')::timestamptz)) "
            "FROM events WHERE type = 'reminder.due' AND owner_id = ANY($1)",
            [watched, *others],
        )
        assert slowest < FIRE_WITHIN
        # ... and nothing more on the stream than the marker written next.
        marker = await api(first.base_url, "POST", "/tasks", watched, json={"title": "marker"})
        message = await stream.next()
        assert (message.event, message.data["data"]) == ("task.created", marker)
    print(f"slowest reminder.due after its instant: {slowest:.2f}s")


async def test_another_users_stream_never_sees_a_reminder(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    alice, bob = new_user(), new_user()
    async with open_stream(second.base_url, bob) as bobs, open_stream(first.base_url, alice) as own:
        await api(
            first.base_url,
            "POST",
            "/tasks",
            alice,
            json={"title": "alice's", "due_at": at(seconds=1), "reminders": ["PT0S"]},
        )
        assert (await own.next()).event == "task.created"
        assert (await own.next(within=10)).event == "reminder.due"
        marker = await api(second.base_url, "POST", "/tasks", bob, json={"title": "bob's"})
        # Bob's first event is his own change: alice's reminder was never sent to him.
        message = await bobs.next()
        assert (message.event, message.data["data"]) == ("task.created", marker)


async def test_resuming_across_a_reminder_with_last_event_id_or_since(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    user = new_user()
    async with open_stream(first.base_url, user) as stream:
        task = await api(
            first.base_url,
            "POST",
            "/tasks",
            user,
            json={"title": "t", "due_at": at(seconds=1), "reminders": ["PT0S"]},
        )
        created = await stream.next()
        reminder = await stream.next(within=10)
        assert reminder.event == "reminder.due"
        # The reminder carries the cursor current when it fired: that of the creation.
        assert reminder.data["cursor"] == created.data["cursor"]
        await api(first.base_url, "PATCH", f"/tasks/{task['id']}", user, json={"title": "u"})
        updated = await stream.next()
        assert updated.event == "task.updated"
    after_creation = [reminder.id, updated.id]

    # After the creation's event: the reminder (the same id), then the update.
    async with open_stream(second.base_url, user, last_event_id=created.id) as resumed:
        assert [m.id for m in await resumed.take(2)] == after_creation
    async with open_stream(second.base_url, user, last_event_id=reminder.id) as resumed:
        assert [m.id for m in await resumed.take(1)] == [updated.id]
    # ?since= a cursor: the events after that change's own event, so a reminder that fired
    # at that cursor is sent (again, with its id, for a client resuming from its cursor).
    for cursor in (created.data["cursor"], reminder.data["cursor"]):
        async with open_stream(second.base_url, user, since=cursor) as resumed:
            assert [m.id for m in await resumed.take(2)] == after_creation
    # From the update's cursor: nothing before the next change.
    async with open_stream(second.base_url, user, since=updated.data["cursor"]) as resumed:
        marker = await api(first.base_url, "POST", "/tasks", user, json={"title": "m"})
        message = await resumed.next()
        assert (message.event, message.data["data"]) == ("task.created", marker)
    # And the reminder's cursor works with the change feed: it continues after the creation.
    feed = await api(
        first.base_url, "GET", "/tasks/changes", user, params={"since": reminder.data["cursor"]}
    )
    assert [t["title"] for t in feed["changes"]] == ["u", "m"]
    assert decode(feed["cursor"]).seq == decode(reminder.data["cursor"]).seq + 2
