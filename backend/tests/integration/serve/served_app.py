"""`python -m app.serve` as a real process on a free port, for tests of what only a real
server does: signals, sockets, timeouts."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from app.core.config import BACKEND_DIR
from app.core.database import APPLICATION_NAME
from tests.conftest import TEST_SECRET, auth
from tests.support.pgbouncer import pgbouncer_show
from tests.support.postgres_server import free_port

STARTUP_SECONDS = 30.0


@dataclass
class ServedApp:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def served_app(database_url: str, direct_url: str, **settings: str) -> Iterator[ServedApp]:
    """Start the server with one worker; `settings` are extra environment variables."""
    port = free_port()
    environment = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "DATABASE_URL_DIRECT": direct_url,
        "JWT_SECRET": TEST_SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        **settings,
    }
    with tempfile.TemporaryDirectory(prefix="todo-serve-") as temp:
        log = Path(temp) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.serve"],
                cwd=BACKEND_DIR,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # Its own process group: the workers can be stopped with it (below).
                start_new_session=True,
            )
        app = ServedApp(process, port, log)
        try:
            _wait_until_serving(app)
            yield app
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL for the whole process group: a killed server's workers would
    otherwise live on as orphans."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait_until_serving(app: ServedApp) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise AssertionError(f"the server exited at start-up:\n{app.output()}")
        try:
            if httpx.get(f"{app.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer in {STARTUP_SECONDS}s:\n{app.output()}")


async def wait_for(
    condition_name: str, check: Callable[[], Awaitable[bool]], within: float
) -> None:
    """Poll an async predicate until it holds; fail after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            # Polling: the state lives in another process or the database, not in an Event.
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {within}s: {condition_name}") from None


async def sessions_waiting_on_a_lock(db: asyncpg.Connection) -> int:
    # Matched by database, not application_name: PgBouncer does not pass that name on.
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return count


async def app_connections(db: asyncpg.Connection, app_database_url: str) -> set[str]:
    """Identities of the app's open database connections, whichever process holds them: at
    PgBouncer when the app serves through one (its server connections outlive the app's
    pool), else at PostgreSQL. Compare with a snapshot taken before the served app started."""
    pooled = os.environ.get("TEST_DATABASE_URL_DIRECT") not in (None, app_database_url)
    if pooled:
        database = urlsplit(app_database_url).path.lstrip("/")
        clients = await asyncio.to_thread(pgbouncer_show, app_database_url, "CLIENTS")
        return {
            f"{row['addr']}:{row['port']}"
            for row in clients
            if row["database"] == database and row["application_name"] == APPLICATION_NAME
        }
    rows = await db.fetch(
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )
    return {str(row["pid"]) for row in rows}


async def start_blocked_update(
    app: ServedApp, db: asyncpg.Connection, http: httpx.AsyncClient
) -> tuple["asyncio.Task[httpx.Response]", asyncpg.transaction.Transaction]:
    """A PATCH that waits on a row lock held by the test, i.e. a slow in-flight request."""
    created = await http.post("/api/v1/alice/tasks", json={"title": "slow"}, headers=auth())
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    lock = db.transaction()
    await lock.start()
    await db.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", task_id)
    patch = asyncio.create_task(
        http.patch(f"/api/v1/alice/tasks/{task_id}", json={"completed": True}, headers=auth())
    )

    async def waiting_on_the_lock() -> bool:
        return await sessions_waiting_on_a_lock(db) == 1

    await wait_for("the PATCH waits on the row lock", waiting_on_the_lock, 10)
    return patch, lock
