"""Load shedding: a worker at its admission limit refuses the next request at once with 503
`overloaded` and Retry-After, changes nothing for it, and counts it in /metrics; health probes
are never refused."""

import asyncio
import time

import anyio
import asyncpg
import pytest

from app.core.admission import MIN_LIMIT
from app.core.database import parse_database_url
from tests.conftest import ClientFactory, auth
from tests.integration.core.test_metrics import scrape, value

pytestmark = pytest.mark.anyio

TASKS = "/api/v1/alice/tasks"


async def wait_for_a_lock_wait(db: asyncpg.Connection) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with anyio.fail_after(10):
        while True:
            if await db.fetchval(query):
                return
            await asyncio.sleep(0.02)


async def test_requests_beyond_the_bound_are_refused_at_once(
    client_with: ClientFactory, db: asyncpg.Connection, database_url: str
) -> None:
    async with client_with(max_concurrent_requests=1) as client:
        assert (
            await client.post(TASKS, json={"title": "first"}, headers=auth())
        ).status_code == 201
        # Hold alice's row so that her next write waits inside the app: one request in flight.
        holder = await asyncpg.connect(parse_database_url(database_url).dsn)
        try:
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute("SELECT 1 FROM users WHERE id = 'alice' FOR UPDATE")
            waiting = asyncio.create_task(
                client.post(TASKS, json={"title": "second"}, headers=auth())
            )
            await wait_for_a_lock_wait(db)

            refused = await client.post(TASKS, json={"title": "refused"}, headers=auth())
            assert refused.status_code == 503
            assert refused.json() == {
                "detail": "The server is busy; retry after `Retry-After` seconds.",
                "code": "overloaded",
            }
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["x-content-type-options"] == "nosniff"
            assert "x-request-id" in refused.headers
            assert (await client.get(TASKS, headers=auth())).status_code == 503
            # Probes and metrics are answered whatever the load.
            assert (await client.get("/healthz")).status_code == 200
            assert value(await scrape(client), "http_requests_shed_total") == 2

            await transaction.rollback()
        finally:
            await holder.close()
        assert (await waiting).status_code == 201

    titles = await db.fetch("SELECT title FROM tasks ORDER BY created_at")
    assert [row["title"] for row in titles] == ["first", "second"]


async def test_a_worker_takes_as_many_requests_as_it_finishes_in_the_expected_wait(
    client_with: ClientFactory,
) -> None:
    """The limit follows the rate at which the worker finishes requests (app.core.admission):
    over a second's worth of ticks, at least a hundred requests a second here, so that with an
    expected wait of a second the limit rises well above its floor; /metrics shows it."""
    async with client_with(max_expected_wait_ms=1000, max_concurrent_requests=0) as client:
        assert value(await scrape(client), "http_requests_admission_limit") == MIN_LIMIT
        started = time.monotonic()
        finished = 0
        while time.monotonic() - started < 1.0:
            assert (await client.get("/healthz")).status_code == 200
            finished += 1
            # In-process, /healthz never waits on I/O: let the worker's timer run.
            await asyncio.sleep(0)
        limit = value(await scrape(client), "http_requests_admission_limit")
        assert finished >= 100  # the rate the limit is made of
        # About a second's worth at the rate measured (over the ticks of the last second).
        assert MIN_LIMIT < limit < finished * 1.5
