"""The app against a PostgreSQL that goes away: stopped, restarted, or cutting connections.

Each test drives its own server (tests/support/postgres_server.py), so it can stop and
restart it; `psql` and `pg_ctl` run as blocking subprocesses where the point is that the
app's event loop gets no chance to notice the cut before the next request arrives.
"""

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from app.core import migrate
from app.core.config import Settings
from app.core.database import APPLICATION_NAME, Database, DatabaseUnavailable
from app.main import create_app
from tests.conftest import auth
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

# Every test must finish well within this, whatever the database does.
TEST_BOUND_SECONDS = 30
POOL_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 0.5
# An answer to a request that needs an unreachable database may take the pool timeout,
# plus one connect attempt and scheduling; anything longer is a hang.
UNAVAILABLE_BOUND_SECONDS = POOL_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS + 2.0
LET_GOODBYES_ARRIVE_SECONDS = 0.2
# Where requests are expected to succeed, the production defaults: reconnecting a whole pool
# on a busy CI machine can take longer than the short timeouts above.
RECOVERY: dict[str, Any] = {"db_pool_timeout_seconds": 5.0, "db_connect_timeout_seconds": 5.0}


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def fault_database_url(pg_server: PostgresServer) -> str:
    pg_server.psql("CREATE DATABASE todo_faults")
    url = pg_server.url("todo_faults")
    migrate.upgrade(url)
    return url


@pytest.fixture
def server(pg_server: PostgresServer) -> PostgresServer:
    """The server, running (a failed test may have left it stopped)."""
    if not pg_server.is_running():
        pg_server.start()
    return pg_server


@pytest.fixture
def user() -> str:
    return f"fault-{uuid.uuid4().hex[:12]}"


def fault_settings(base: Settings, database_url: str, **overrides: Any) -> Settings:
    """The suite's test settings (no backend/.env), on this server, with short timeouts."""
    changes = {
        "database_url": database_url,
        "db_pool_timeout_seconds": POOL_TIMEOUT_SECONDS,
        "db_connect_timeout_seconds": CONNECT_TIMEOUT_SECONDS,
        **overrides,
    }
    return base.model_copy(update=changes)


@asynccontextmanager
async def serving(
    base: Settings, database_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fault_settings(base, database_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def app_connections(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
        return count
    finally:
        await conn.close()


async def warm_pool(client: httpx.AsyncClient, user: str, connections: int) -> None:
    """Make the pool hold several open connections, as it does under load."""
    responses = await asyncio.gather(
        *(client.get(f"/api/v1/{user}/tasks", headers=auth(user)) for _ in range(connections))
    )
    assert {r.status_code for r in responses} == {200}


async def test_unreachable_database_answers_503_then_recovers_without_restart(
    server: PostgresServer, fault_database_url: str, user: str, settings: Settings
) -> None:
    async with asyncio.timeout(TEST_BOUND_SECONDS), serving(settings, fault_database_url) as client:
        tasks_url = f"/api/v1/{user}/tasks"
        assert (
            await client.post(tasks_url, json={"title": "a"}, headers=auth(user))
        ).status_code == 201

        server.stop()
        async with asyncio.timeout(UNAVAILABLE_BOUND_SECONDS):
            listed = await client.get(tasks_url, headers=auth(user))
        assert_unavailable(listed)
        async with asyncio.timeout(UNAVAILABLE_BOUND_SECONDS):
            created = await client.post(tasks_url, json={"title": "b"}, headers=auth(user))
        assert_unavailable(created)
        assert (await client.get("/healthz")).status_code == 200
        async with asyncio.timeout(UNAVAILABLE_BOUND_SECONDS):
            ready = await client.get("/readyz")
        assert_unavailable(ready)

        server.start()
        assert (await client.get("/readyz")).status_code == 200
        listed = await client.get(tasks_url, headers=auth(user))
        assert listed.status_code == 200, listed.text
        assert [task["title"] for task in listed.json()["tasks"]] == ["a"]


async def test_database_that_accepts_but_never_answers_gives_503_in_time(
    user: str, settings: Settings
) -> None:
    """A black-holed server (a suspended host, a network partition) must not hang requests."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/todo"
        async with asyncio.timeout(TEST_BOUND_SECONDS), serving(settings, url) as client:
            async with asyncio.timeout(UNAVAILABLE_BOUND_SECONDS):
                listed = await client.get(f"/api/v1/{user}/tasks", headers=auth(user))
            assert_unavailable(listed)
            assert (await client.get("/healthz")).status_code == 200


async def test_connections_terminated_under_the_app_are_replaced_before_use(
    server: PostgresServer, fault_database_url: str, user: str, settings: Settings
) -> None:
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        serving(settings, fault_database_url, **RECOVERY) as client,
    ):
        await warm_pool(client, user, connections=5)
        assert await app_connections(fault_database_url) >= 2

        killed = server.psql(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = '{APPLICATION_NAME}') AS t"
        )
        assert int(killed) >= 2
        # Let the goodbyes reach this process while its event loop is held, as a busy
        # process would be, so that they are still unread when the next request comes.
        time.sleep(LET_GOODBYES_ARRIVE_SECONDS)  # noqa: ASYNC251  (holding the loop is the point)
        # Sequential first (each takes the next pooled, now dead, connection), then a burst.
        for index in range(5):
            created = await client.post(
                f"/api/v1/{user}/tasks", json={"title": f"t{index}"}, headers=auth(user)
            )
            assert created.status_code == 201, created.text
        await warm_pool(client, user, connections=5)


async def test_full_database_restart_is_invisible_to_the_next_requests(
    server: PostgresServer, fault_database_url: str, user: str, settings: Settings
) -> None:
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        serving(settings, fault_database_url, **RECOVERY) as client,
    ):
        await warm_pool(client, user, connections=5)
        server.restart()
        time.sleep(LET_GOODBYES_ARRIVE_SECONDS)  # noqa: ASYNC251  (holding the loop is the point)
        for index in range(5):
            created = await client.post(
                f"/api/v1/{user}/tasks", json={"title": f"t{index}"}, headers=auth(user)
            )
            assert created.status_code == 201, created.text
        await warm_pool(client, user, connections=5)
        assert (await client.get("/readyz")).status_code == 200


async def test_no_acknowledged_create_is_lost_or_stored_twice_across_a_restart(
    server: PostgresServer, fault_database_url: str, user: str, settings: Settings
) -> None:
    writers = 6
    acknowledged: dict[str, str] = {}  # title -> id of every 201
    other_statuses: list[int] = []
    created_after_restart = 0
    restarted = asyncio.Event()
    recovered = asyncio.Event()  # every writer has had a 201 since the restart
    stop = asyncio.Event()

    async def write(client: httpx.AsyncClient, writer: int) -> None:
        nonlocal created_after_restart
        sequence = 0
        while not stop.is_set():
            title = f"w{writer}-{sequence}"
            sequence += 1
            response = await client.post(
                f"/api/v1/{user}/tasks", json={"title": title}, headers=auth(user)
            )
            if response.status_code == 201:
                acknowledged[title] = response.json()["id"]
                created_after_restart += restarted.is_set()
                if created_after_restart >= writers:
                    recovered.set()
            else:
                other_statuses.append(response.status_code)

    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        serving(settings, fault_database_url, db_pool_max_size=4, **RECOVERY) as client,
    ):
        writing = [asyncio.create_task(write(client, n)) for n in range(writers)]
        await asyncio.sleep(0.3)
        # In a thread, so that requests keep arriving while the server goes down and up.
        await asyncio.to_thread(server.restart)
        restarted.set()
        await recovered.wait()
        stop.set()
        await asyncio.gather(*writing)

    assert set(other_statuses) <= {503}, other_statuses
    assert len(acknowledged) > writers
    conn = await asyncpg.connect(fault_database_url)
    try:
        rows = await conn.fetch("SELECT id::text, title FROM tasks WHERE owner_id = $1", user)
    finally:
        await conn.close()
    stored = [(row["title"], row["id"]) for row in rows]
    titles = [title for title, _ in stored]
    assert len(titles) == len(set(titles)), "a task was stored twice"
    assert set(acknowledged.items()) <= set(stored), "an acknowledged task is missing"


@asynccontextmanager
async def opened_database(base: Settings, database_url: str) -> AsyncIterator[Database]:
    settings = fault_settings(base, database_url)
    database = Database(settings, database_url)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def test_statement_on_a_connection_that_died_before_use_runs_on_a_fresh_one(
    server: PostgresServer, fault_database_url: str, settings: Settings
) -> None:
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        opened_database(settings, fault_database_url) as database,
        database.connection() as conn,
    ):
        conn.raw.terminate()
        assert await conn.execute("SELECT 1") == "SELECT 1"
        assert await conn.fetchval("SELECT 2") == 2


async def test_read_cut_mid_statement_is_retried(
    server: PostgresServer, fault_database_url: str, settings: Settings
) -> None:
    server.psql(
        "DROP SEQUENCE IF EXISTS read_attempts; CREATE SEQUENCE read_attempts", "todo_faults"
    )
    # The first attempt kills its own connection while running; a retry answers.
    read = (
        "SELECT CASE WHEN nextval('read_attempts') = 1 "
        "THEN pg_terminate_backend(pg_backend_pid()) END, 42 AS answer"
    )
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        opened_database(settings, fault_database_url) as database,
        database.connection() as conn,
    ):
        row = await conn.fetchrow(read)
    assert row is not None
    assert row["answer"] == 42
    assert server.psql("SELECT last_value FROM read_attempts", "todo_faults").strip() == "2"


async def test_write_cut_mid_statement_is_never_repeated(
    server: PostgresServer, fault_database_url: str, settings: Settings
) -> None:
    # Sequences ignore rollbacks, so this counts every attempt the server saw.
    server.psql(
        "DROP SEQUENCE IF EXISTS write_attempts; CREATE SEQUENCE write_attempts", "todo_faults"
    )
    write = (
        "DO $$ BEGIN PERFORM nextval('write_attempts'); "
        "PERFORM pg_terminate_backend(pg_backend_pid()); END $$"
    )
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        opened_database(settings, fault_database_url) as database,
    ):
        with pytest.raises(DatabaseUnavailable):
            async with database.connection() as conn:
                await conn.execute(write)
        async with database.connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
    assert server.psql("SELECT last_value FROM write_attempts", "todo_faults").strip() == "1"
