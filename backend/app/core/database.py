"""The asyncpg connection pool and the translation of `DATABASE_URL` for it.

The service layer talks to PostgreSQL through this pool with plain SQL: the ORM's
per-row object loading was the largest cost on the hot paths (docs/performance.md).
SQLModel still defines the tables, and Alembic migrates them.
"""

import asyncio
import importlib
import logging
import math
import os
import secrets
import select
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fastapi import Depends, Request

from app.core.config import Settings

logger = logging.getLogger("app.database")
T = TypeVar("T")

# Shown in pg_stat_activity, so operators (and the tests) can tell our connections apart.
APPLICATION_NAME = "todo-backend"
ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}
# libpq parameters that asyncpg does not understand. asyncpg would forward them to the
# server as run-time settings, which the server rejects. `channel_binding` (Neon's console
# adds it) has no asyncpg equivalent: SCRAM authentication is still used, over TLS.
# `options` carries Neon's `endpoint=` for clients without SNI; asyncpg sends SNI.
LIBPQ_ONLY_PARAMETERS = {
    "channel_binding",
    "gssencmode",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "options",
    "requiressl",
    "tcp_user_timeout",
}


class InvalidDatabaseUrl(ValueError):
    pass


class DatabaseUnavailable(Exception):
    """The database could not be reached in time; answered as 503 with Retry-After."""


@dataclass(frozen=True)
class ConnectParameters:
    dsn: str
    connect_timeout: float | None = None
    server_settings: dict[str, str] = field(default_factory=dict)


def parse_database_url(url: str) -> ConnectParameters:
    """Accept a PostgreSQL URL as Neon's console (or any libpq tool) gives it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ACCEPTED_SCHEMES:
        raise InvalidDatabaseUrl(
            f"DATABASE_URL must start with postgresql:// (got {parts.scheme or 'no scheme'}://)"
        )
    kept: list[tuple[str, str]] = []
    connect_timeout: float | None = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "connect_timeout":
            connect_timeout = _seconds(value)
        elif key not in LIBPQ_ONLY_PARAMETERS:
            kept.append((key, value))
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(kept), ""))
    return ConnectParameters(dsn=dsn, connect_timeout=connect_timeout)


def _seconds(value: str) -> float | None:
    """connect_timeout as libpq reads it; empty or 0 (no limit of its own) leaves ours."""
    try:
        seconds = float(value or 0)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidDatabaseUrl(f"connect_timeout must be a number of seconds (got {value!r})")
    return seconds or None


# Errors that mean "the server or the connection to it is gone", not "the query is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # The connection's protocol state is unusable, e.g. the server's goodbye was read while
    # the connection sat idle and its close has not arrived yet.
    asyncpg.InternalClientError,
)
# Failures raised by asyncpg before it writes anything: the statement never left this process.
NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# A failed statement is tried again on a fresh connection at most this many times.
MAX_STATEMENT_RETRIES = 2
# What a transaction-mode pooler (PgBouncer before 1.21 or without max_prepared_statements,
# Supabase's, RDS Proxy, ...) does to asyncpg's named prepared statements: the next
# transaction of a client connection may run on another server connection, where the
# statement is missing ("does not exist", at Bind) or where another client's statement of
# that name sits ("already exists", at Parse). Both are refused before Execute, so the
# statement did not run; inside a transaction block, the transaction is rolled back.
POOLER_STATEMENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InvalidSQLStatementNameError,
    asyncpg.DuplicatePreparedStatementError,
)
# A unit of work stopped by such an error is run once more, with the statement cache off.
MAX_POOLER_RETRIES = 1
POOLER_DETECTED_MESSAGE = (
    "the database is reached through a pooler in transaction mode that does not keep "
    "prepared statements (PgBouncer or similar): statement cache switched off in this "
    "process; DB_STATEMENT_CACHE_SIZE=0 starts without it"
)
# Logged once per process, however many pools it opens.
_pooler_reported = False

# asyncpg's default; used unless DB_STATEMENT_CACHE_SIZE says otherwise or the host is a pooler.
DEFAULT_STATEMENT_CACHE_SIZE = 100
# Neon names its PgBouncer endpoint `<endpoint>-pooler.<region>...`.
POOLER_HOST_MARK = "-pooler"
# Back-off between attempts to get a connection while the server refuses them (restarting,
# waking up, at its connection limit); every attempt stays within DB_POOL_TIMEOUT_SECONDS.
FIRST_RETRY_DELAY_SECONDS = 0.05
MAX_RETRY_DELAY_SECONDS = 0.5
# Event-loop turns given to asyncpg to notice that an idle connection was closed by the server.
LIVENESS_LOOP_TURNS = 10
# How long close() waits for borrowed connections to come back before cutting them.
POOL_CLOSE_SECONDS = 5.0
POOL_CLOSED_MESSAGE = "database pool closed"


def statement_cache_size(settings: Settings, url: str) -> int:
    """asyncpg's named prepared statements break behind PgBouncer in transaction mode.

    PgBouncer before 1.21 (Debian 12 ships 1.18) does not track them at all, so a statement
    prepared on one server connection is missing, or already present, on the next one.
    With a cache size of 0 asyncpg uses the unnamed statement only, which is safe there.
    Any other pooler is found out at its first such error (Database switches the cache off).
    """
    if settings.db_statement_cache_size is not None:
        return settings.db_statement_cache_size
    host = urlsplit(url.strip()).hostname or ""
    if POOLER_HOST_MARK in host.split(".", 1)[0]:
        return 0
    return DEFAULT_STATEMENT_CACHE_SIZE


def _number_statements_from_a_random_start() -> None:
    """asyncpg names its statements `__asyncpg_stmt_<n>__`, counting from 1 in each process.

    Behind a pooler, processes share server connections, so the same name would denote
    another process's statement: "already exists", or worse, a Bind that runs that other
    statement when its parameters happen to fit. Cursors use named statements even with the
    cache off. A random start per process (forked workers included) keeps the names of
    different processes apart.
    """
    module = importlib.import_module("asyncpg.connection")
    if isinstance(getattr(module, "_uid", None), int):
        vars(module)["_uid"] = secrets.randbits(48)


_number_statements_from_a_random_start()
os.register_at_fork(after_in_child=_number_statements_from_a_random_start)


class Database:
    """One pool per process, sized by the settings; created in the app's lifespan.

    Only connections that are still alive are handed out: a server restart, a Neon compute
    suspend or `pg_terminate_backend` leaves dead connections in the pool, and those are
    replaced before any statement is sent on them. Failing to connect (connection refused,
    server starting up) is retried until DB_POOL_TIMEOUT_SECONDS. Statements are retried
    only where that is safe (see PooledConnection), so a write is never applied twice.

    Behind a transaction-mode pooler the first prepared-statement error switches the
    statement cache off for the whole pool (see `statement_cache_failed`), with no setting.
    """

    def __init__(self, settings: Settings, url: str) -> None:
        self._settings = settings
        self._params = parse_database_url(url)
        self._statement_cache_size = statement_cache_size(settings, url)
        self._pool: asyncpg.Pool | None = None

    @property
    def statement_cache_size(self) -> int:
        """The cache size of the connections made from now on (0 once a pooler was found)."""
        return self._statement_cache_size

    async def open(self) -> None:
        s = self._settings
        self._pool = await asyncpg.create_pool(
            dsn=self._params.dsn,
            connect=self._connect,
            min_size=s.db_pool_min_size,
            max_size=s.db_pool_max_size,
            timeout=self._params.connect_timeout or s.db_connect_timeout_seconds,
            command_timeout=s.db_command_timeout_seconds,
            max_inactive_connection_lifetime=s.db_pool_recycle_seconds,
            server_settings={"application_name": APPLICATION_NAME},
            reset=_keep_session,
        )

    async def _connect(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        """A new connection of the pool, with the statement cache size of the moment."""
        while True:
            size = self._statement_cache_size
            conn: asyncpg.Connection = await asyncpg.connect(
                *args, **kwargs, statement_cache_size=size
            )
            if size == self._statement_cache_size:
                return conn
            # The cache was switched off while this one connected; the pool's expiry missed it.
            await conn.close()

    async def statement_cache_failed(self) -> None:
        """A pooler lost a prepared statement: switch the cache off for the whole pool.

        Connections made from now on have no cache; those open now (idle or busy) belong to
        an expired generation, so the pool closes each when it is next released or acquired.
        The caller runs the failed statement again on a fresh connection.
        """
        global _pooler_reported
        if not self._statement_cache_size:
            return
        self._statement_cache_size = 0
        if self._pool is not None:
            await self._pool.expire_connections()
        if not _pooler_reported:
            _pooler_reported = True
            logger.warning(POOLER_DETECTED_MESSAGE)

    async def close(self) -> None:
        """Close the pool; connections still borrowed after POOL_CLOSE_SECONDS are cut."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(POOL_CLOSE_SECONDS):
                await pool.close()
        except TimeoutError:
            logger.warning("database pool did not close in %ss; terminating it", POOL_CLOSE_SECONDS)
            pool.terminate()
        logger.info(POOL_CLOSED_MESSAGE)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() has not been awaited")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator["PooledConnection"]:
        """A live pooled connection; connection failures surface as DatabaseUnavailable.

        So does a pooler's prepared-statement error that nobody ran again (a transaction on
        `raw` outside `run`): the client is told to retry, and the retry finds the cache off.
        """
        pool = self.pool
        conn = PooledConnection(self, pool, await self.acquire_live(pool))
        try:
            yield conn
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
        except POOLER_STATEMENT_ERRORS as exc:
            await self.statement_cache_failed()
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            await _release(pool, conn.raw)

    async def run(self, work: Callable[["PooledConnection"], Awaitable[T]]) -> T:
        """`work` on a pooled connection, run again on a fresh one if a pooler lost a
        prepared statement under it (the first time behind such a pooler).

        Only for work that such an error leaves without effect: one transaction block on
        `raw` (rolled back by the error), and statements through PooledConnection's methods
        (which run again on their own, so never twice). Never work that commits and then
        goes on.
        """
        attempts = 0
        while True:
            async with self.connection() as conn:
                try:
                    return await work(conn)
                except POOLER_STATEMENT_ERRORS:
                    if attempts >= MAX_POOLER_RETRIES:
                        raise
                    attempts += 1
                    await self.statement_cache_failed()

    async def ping(self, within_seconds: float) -> bool:
        try:
            async with asyncio.timeout(within_seconds), self.connection() as conn:
                await conn.fetchval("SELECT 1")
        except (DatabaseUnavailable, TimeoutError):
            return False
        return True

    async def acquire_live(self, pool: asyncpg.Pool) -> PoolConnectionProxy:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.db_pool_timeout_seconds
        delay = FIRST_RETRY_DELAY_SECONDS
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DatabaseUnavailable("no live database connection in time")
            try:
                conn = await pool.acquire(timeout=remaining)
            except CONNECTION_ERRORS as exc:
                # Nothing was sent yet: no slot came free in time, or connecting failed
                # (refused, dropped, or slower than DB_CONNECT_TIMEOUT_SECONDS).
                if deadline - loop.time() <= delay:
                    reason = (
                        "no database connection in time" if isinstance(exc, TimeoutError) else ""
                    )
                    raise DatabaseUnavailable(reason or str(exc) or type(exc).__name__) from exc
                logger.info("database connection failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
                continue
            if not await _was_closed_by_server(conn):
                return conn
            # The pool reconnects this slot the next time it is acquired.
            await _release(pool, conn)


class Queries(Protocol):
    """The statements a service runs: on a PooledConnection, or on a raw connection inside
    a transaction the caller holds."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...
    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def execute(self, query: str, *args: Any) -> str: ...


class PooledConnection:
    """The query methods of a pooled connection, as `Database.connection()` hands them out.

    Each statement runs on its own (no transaction block is offered here: one spanning
    statements would need `raw`, whose statements are never retried). A statement that fails
    because the connection died is run again on a fresh connection only if asyncpg failed
    before sending it, or if it is a read (a statement starting with SELECT). A write whose
    fate is unknown is never repeated: it surfaces as DatabaseUnavailable (503). A statement
    a pooler refused to prepare or bind never ran: it runs again, with the cache off.
    """

    def __init__(self, database: Database, pool: asyncpg.Pool, conn: PoolConnectionProxy) -> None:
        self._database = database
        self._pool = pool
        self._conn = conn

    @property
    def raw(self) -> PoolConnectionProxy:
        """The asyncpg connection itself, for what this class does not wrap (no retries)."""
        return self._conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(query, lambda conn: conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._run(query, lambda conn: conn.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run(query, lambda conn: conn.fetchval(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        return await self._run(query, lambda conn: conn.execute(query, *args))

    async def _run(self, query: str, statement: Callable[[PoolConnectionProxy], Awaitable[T]]) -> T:
        retries = 0
        while True:
            try:
                return await statement(self._conn)
            except CONNECTION_ERRORS as exc:
                if retries >= MAX_STATEMENT_RETRIES or not self._may_retry(query, exc):
                    raise
                retries += 1
                logger.info("statement failed on a dead connection (%s); retrying", exc)
            except POOLER_STATEMENT_ERRORS:
                if retries >= MAX_STATEMENT_RETRIES:
                    raise
                retries += 1
                await self._database.statement_cache_failed()
            # The connection given back is closed by the pool (dead, or of an expired
            # generation); the one acquired is fresh.
            await _release(self._pool, self._conn)
            self._conn = await self._database.acquire_live(self._pool)

    def _may_retry(self, query: str, exc: BaseException) -> bool:
        if isinstance(exc, TimeoutError):
            # A timeout is a slow statement, not a dead connection: do not add load.
            return False
        if isinstance(exc, NOT_SENT_ERRORS):
            return True
        first_word = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
        return first_word == "SELECT"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo, so no round trip.

    The app never changes session state (no SET, LISTEN, advisory locks or cursors held
    past a transaction), and asyncpg still rolls back an open transaction on release.
    asyncpg's default sends `RESET ALL; UNLISTEN *; ...` after every request: a sixth
    of a worker's CPU on the list route, and a round trip (docs/performance.md).
    """


async def _release(pool: asyncpg.Pool, conn: PoolConnectionProxy) -> None:
    """Give the connection back; one that cannot be reset is dropped, never an error."""
    try:
        await pool.release(conn)
    except Exception as exc:
        # asyncpg has already terminated it and freed its slot.
        logger.info("dropped a database connection on release: %s", type(exc).__name__)


def _is_closed(conn: PoolConnectionProxy) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool detaches a connection as soon as it sees it close.
        return True


async def _was_closed_by_server(conn: PoolConnectionProxy) -> bool:
    """True when the server has closed this idle connection, without a round trip.

    An idle connection receives nothing unless the server is closing it (or, rarely, sends
    a notice). When input is pending, give asyncpg a few loop turns to read it: if it was
    the server's goodbye, the connection is closed by then.
    """
    for _ in range(LIVENESS_LOOP_TURNS):
        if _is_closed(conn):
            return True
        if not _has_pending_input(conn):
            return False
        await asyncio.sleep(0)
    return _is_closed(conn)


def _has_pending_input(conn: PoolConnectionProxy) -> bool:
    # asyncpg has no public liveness check; its transport is the one private piece used here.
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


# `async` although it never awaits: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop (about 0.2 ms of CPU) on every request for one attribute read.
async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]
