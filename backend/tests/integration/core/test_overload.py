"""Load shedding: a worker at MAX_CONCURRENT_REQUESTS refuses the next request at once with 503
`overloaded` and Retry-After, changes nothing for it, and counts it in /metrics; health probes
are never refused."""

import asyncio

import anyio
import asyncpg
import pytest

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
