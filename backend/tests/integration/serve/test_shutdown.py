"""SIGTERM: in-flight requests complete, new connections are refused, the process exits
within SHUTDOWN_GRACE_SECONDS, and the database pool is closed; a worker still busy when the
grace period ends is stopped and its connections go with it."""

import asyncio
import signal
import socket

import asyncpg
import httpx
import pytest

from app.core.database import POOL_CLOSED_MESSAGE
from tests.integration.serve.served_app import (
    app_connections,
    served_app,
    start_blocked_update,
    wait_for,
)

pytestmark = pytest.mark.anyio

TEST_BOUND_SECONDS = 60
GRACE_SECONDS = 2
# After the grace period: cancelling what is left and closing the pool.
EXIT_MARGIN_SECONDS = 6
CLEAN_EXIT = {0}


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones(
    app_database_url: str, database_url: str, db: asyncpg.Connection, clean_database: None
) -> None:
    # Connections of apps that earlier tests ran in this process are not the server's.
    others = await app_connections(db, app_database_url)
    with served_app(
        app_database_url, database_url, SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS + 8)
    ) as app:
        async with (
            asyncio.timeout(TEST_BOUND_SECONDS),
            httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        ):
            patch, lock = await start_blocked_update(app, db, http)

            app.process.send_signal(signal.SIGTERM)

            async def refusing() -> bool:
                return not accepts_connections(app.port)

            await wait_for("new connections are refused", refusing, 5)
            assert not patch.done()
            await lock.rollback()  # the slow request may now finish

            response = await patch
            assert response.status_code == 200, response.text
            assert response.json()["completed"] is True
            assert await asyncio.to_thread(app.process.wait, 10) in CLEAN_EXIT

            async def pool_closed() -> bool:
                return await app_connections(db, app_database_url) <= others

            await wait_for("the server's database connections are closed", pool_closed, 5)
            assert POOL_CLOSED_MESSAGE in app.output()


async def test_sigterm_exits_within_the_grace_period_when_a_request_hangs(
    app_database_url: str, database_url: str, db: asyncpg.Connection, clean_database: None
) -> None:
    # Connections of apps that earlier tests ran in this process are not the server's.
    others = await app_connections(db, app_database_url)
    with served_app(
        app_database_url, database_url, SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS)
    ) as app:
        async with (
            asyncio.timeout(TEST_BOUND_SECONDS),
            httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
        ):
            patch, lock = await start_blocked_update(app, db, http)
            try:
                app.process.send_signal(signal.SIGTERM)
                # The lock is never released while the server shuts down.
                exit_code = await asyncio.to_thread(
                    app.process.wait, GRACE_SECONDS + EXIT_MARGIN_SECONDS
                )
                assert exit_code in CLEAN_EXIT, app.output()
                assert "refused to gracefully stop" in app.output()
                # The worker was stopped mid-request: the client sees the connection end (its
                # request's fate unknown, as with any cut connection), never a 500.
                with pytest.raises(httpx.TransportError):
                    await patch
            finally:
                await lock.rollback()

            async def pool_closed() -> bool:
                return await app_connections(db, app_database_url) <= others

            # The stopped worker's sessions end with it (the blocked one once its lock is
            # released and it finds its client gone).
            await wait_for("the server's database connections are closed", pool_closed, 5)
