"""GET /api/v1/{user}/events over real HTTP, with two served processes on one database: every
kind of change as an event, none for a rolled-back batch, replay with Last-Event-ID while
writes run, delivery across processes (LISTEN/NOTIFY), the per-user stream limit across
instances, and isolation between users."""

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.database import parse_database_url
from app.events.hub import LISTEN_APPLICATION_NAME
from app.sync.cursor import decode
from tests.conftest import auth
from tests.integration.events.sse import HANG_SECONDS, open_stream
from tests.integration.serve.served_app import ServedApp, served_app, wait_for

pytestmark = pytest.mark.anyio

# Long enough that a stream only ever learns of a change through NOTIFY during a test: the
# keep-alive (which also re-reads the outbox) never comes first.
QUIET_KEEPALIVE = "120"


@pytest.fixture(scope="module")
def pair(app_database_url: str, database_url: str) -> Iterator[tuple[ServedApp, ServedApp]]:
    """Two instances of the app on one database (each LISTENs on the direct URL). A bound of
    2 concurrent requests shows streams are not counted against it."""
    settings = {"SSE_KEEPALIVE_SECONDS": QUIET_KEEPALIVE, "MAX_CONCURRENT_REQUESTS": "2"}
    with (
        served_app(app_database_url, database_url, **settings) as first,
        served_app(app_database_url, database_url, **settings) as second,
    ):
        yield first, second


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


async def api(base_url: str, method: str, path: str, user: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=HANG_SECONDS) as http:
        return await http.request(method, f"/api/v1/{user}{path}", headers=auth(user), **kwargs)


async def test_every_kind_of_change_is_one_event_in_order_and_a_rolled_back_batch_none(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, _ = pair
    user = new_user()
    url = first.base_url
    async with open_stream(url, user) as stream:
        created = (await api(url, "POST", "/tasks", user, json={"title": "a"})).json()
        task = created["id"]
        updated = (await api(url, "PATCH", f"/tasks/{task}", user, json={"title": "b"})).json()
        completed = (
            await api(url, "PATCH", f"/tasks/{task}/complete", user, json={"completed": True})
        ).json()
        assert (await api(url, "DELETE", f"/tasks/{task}", user)).status_code == 204
        restored = (await api(url, "POST", f"/tasks/{task}/restore", user)).json()
        assert (await api(url, "DELETE", f"/tasks/{task}", user)).status_code == 204
        assert (await api(url, "DELETE", f"/tasks/trash/{task}", user)).status_code == 204
        failed = await api(
            url,
            "POST",
            "/tasks/batch",
            user,
            json={
                "atomic": True,
                "operations": [
                    {"op": "create", "data": {"title": "never"}},
                    {"op": "complete", "id": str(uuid.uuid4())},
                ],
            },
        )
        assert failed.status_code == 409, failed.text
        assert failed.json()["code"] == "batch_failed"
        marker = (await api(url, "POST", "/tasks", user, json={"title": "marker"})).json()

        events = await stream.take(8)

    kinds = [message.event for message in events]
    assert kinds == [
        "task.created",
        "task.updated",
        "task.updated",
        "task.deleted",
        "task.restored",
        "task.deleted",
        "task.purged",
        "task.created",
    ]
    for message in events:
        assert message.id == message.data["id"]
        assert message.data["type"] == message.event
        assert message.data["timestamp"].endswith("Z")
        decode(message.data["cursor"])
    # The task as the API answered each change.
    assert [events[i].data["data"] for i in (0, 1, 2, 4, 7)] == [
        created,
        updated,
        completed,
        restored,
        marker,
    ]
    assert events[3].data["data"]["id"] == task
    assert events[6].data["data"] == {"id": task}
    numbers = [int(message.id.removeprefix("evt_")) for message in events]  # type: ignore[union-attr]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    # The last event's cursor is where the change feed stands.
    feed = (await api(url, "GET", "/tasks/changes", user)).json()
    assert decode(events[-1].data["cursor"]).seq == decode(feed["cursor"]).seq


async def test_an_event_written_through_one_process_reaches_a_stream_on_another(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    user = new_user()
    async with open_stream(second.base_url, user) as stream:
        latencies = []
        for title in ("one", "two", "three"):
            created = await api(first.base_url, "POST", "/tasks", user, json={"title": title})
            written = time.monotonic()
            # The keep-alive is minutes away: only the NOTIFY can deliver it in this bound.
            message = await stream.next(within=HANG_SECONDS)
            latencies.append(time.monotonic() - written)
            assert message.data["data"] == created.json()
    print(f"cross-process delivery after the write's response: {latencies}")


async def test_replay_with_last_event_id_loses_and_repeats_nothing_while_writes_run(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    user = new_user()
    writes = 40
    created_ids: list[str] = []

    async def writer() -> None:
        for number in range(writes):
            response = await api(
                first.base_url, "POST", "/tasks", user, json={"title": f"{number}"}
            )
            assert response.status_code == 201, response.text
            created_ids.append(response.json()["id"])

    received: list[str] = []
    event_ids: list[str] = []
    async with open_stream(second.base_url, user) as stream:
        writing = asyncio.create_task(writer())
        for message in await stream.take(10):
            received.append(message.data["data"]["id"])
            event_ids.append(message.id)  # type: ignore[arg-type]
    # Disconnected while the writer goes on; resume on the other instance.
    async with open_stream(first.base_url, user, last_event_id=event_ids[-1]) as stream:
        while len(received) < writes:
            message = await stream.next()
            received.append(message.data["data"]["id"])
            event_ids.append(message.id)  # type: ignore[arg-type]
    await writing
    assert received == created_ids
    assert len(set(event_ids)) == writes

    # From a change-feed cursor: the events after it (here, after the 30th change).
    async with open_stream(second.base_url, user, last_event_id=event_ids[29]) as stream:
        replayed = await stream.take(10)
    cursor = replayed[0].data["cursor"]
    async with open_stream(second.base_url, user, since=cursor) as stream:
        again = await stream.take(9)
    assert [m.id for m in again] == [m.id for m in replayed[1:]]


async def test_a_resume_point_no_longer_kept_gets_reset_and_a_bad_one_422(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, _ = pair
    user = new_user()
    await api(first.base_url, "POST", "/tasks", user, json={"title": "x"})
    async with open_stream(first.base_url, user, last_event_id="evt_1") as stream:
        message = await stream.next()
        assert message.event == "reset"
        assert message.id is None
        created = await api(first.base_url, "POST", "/tasks", user, json={"title": "live"})
        assert (await stream.next()).data["data"] == created.json()
    async with open_stream(first.base_url, user, last_event_id="nope", expect_status=422):
        pass
    async with open_stream(first.base_url, user, since="nope", expect_status=422):
        pass


async def test_streams_per_user_are_bounded_across_instances_and_not_counted_as_in_flight(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    user = new_user()
    bases = [first.base_url] * 3 + [second.base_url] * 2
    async with (
        open_stream(bases[0], user),
        open_stream(bases[1], user),
        open_stream(bases[2], user),
        open_stream(bases[3], user),
        open_stream(bases[4], user),
    ):
        async with open_stream(first.base_url, user, expect_status=429):
            pass
        async with open_stream(second.base_url, user, expect_status=429):
            pass
        # Three streams on an instance bound to two concurrent requests: still served.
        listed = await api(first.base_url, "GET", "/tasks", user)
        assert listed.status_code == 200, listed.text
        metrics = await httpx.AsyncClient(base_url=first.base_url).get("/metrics")
        assert "sse_streams 3.0" in metrics.text
        other = new_user()
        async with open_stream(first.base_url, other):
            pass

    async def can_open_again() -> bool:
        try:
            async with open_stream(first.base_url, user):
                return True
        except AssertionError:
            return False

    await wait_for("closed streams are unregistered", can_open_again, HANG_SECONDS)


async def test_a_stream_never_sees_another_users_events(
    pair: tuple[ServedApp, ServedApp],
) -> None:
    first, second = pair
    alice, bob = new_user(), new_user()
    async with open_stream(second.base_url, bob) as bobs:
        await api(first.base_url, "POST", "/tasks", alice, json={"title": "alice's"})
        mine = await api(first.base_url, "POST", "/tasks", bob, json={"title": "bob's"})
        message = await bobs.next()
        assert message.data["data"] == mine.json()
    # Another user's path is 403 before anything is registered.
    async with httpx.AsyncClient(base_url=first.base_url, timeout=HANG_SECONDS) as http:
        response = await http.get(f"/api/v1/{alice}/events", headers=auth(bob))
    assert response.status_code == 403


async def test_sigterm_ends_streams_cleanly_and_a_quiet_stream_gets_keep_alives(
    app_database_url: str, database_url: str
) -> None:
    user = new_user()
    settings = {"SSE_KEEPALIVE_SECONDS": "0.2", "SHUTDOWN_GRACE_SECONDS": "120"}
    with served_app(app_database_url, database_url, **settings) as app:
        async with open_stream(app.base_url, user) as stream:

            async def kept_alive() -> bool:
                return "keep-alive" in stream.comments

            reader = asyncio.create_task(stream.until_end())
            await wait_for("a keep-alive comment", kept_alive, HANG_SECONDS)
            started = time.monotonic()
            app.process.send_signal(signal.SIGTERM)
            # Long before the grace period: the stream was ended, not cut when it ran out.
            assert await reader == []
            ended = time.monotonic() - started
        await asyncio.to_thread(app.process.wait, HANG_SECONDS)
    assert app.process.returncode == 0, app.output()
    print(f"stream ended {ended:.2f}s after SIGTERM")


async def test_a_dropped_listen_connection_is_made_again_and_nothing_is_missed(
    pair: tuple[ServedApp, ServedApp], database_url: str
) -> None:
    first, second = pair
    user = new_user()
    admin = await asyncpg.connect(parse_database_url(database_url).dsn)
    try:
        async with open_stream(second.base_url, user) as stream:
            # Every instance's LISTEN connection dies; a change commits while they are gone.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()",
                LISTEN_APPLICATION_NAME,
            )
            during = await api(first.base_url, "POST", "/tasks", user, json={"title": "during"})
            # The keep-alive is minutes away: only the reconnection's re-read brings it.
            assert (await stream.next()).data["data"] == during.json()

            async def listening_again() -> bool:
                count: int = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND datname = current_database()",
                    LISTEN_APPLICATION_NAME,
                )
                return count == 2

            await wait_for("both instances LISTEN again", listening_again, HANG_SECONDS)
            after = await api(first.base_url, "POST", "/tasks", user, json={"title": "after"})
            assert (await stream.next()).data["data"] == after.json()
    finally:
        await admin.close()
