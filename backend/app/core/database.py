"""The asyncpg connection pool and the translation of `DATABASE_URL` for it.

The service layer talks to PostgreSQL through this pool with plain SQL: the ORM's
per-row object loading was the largest cost on the hot paths (docs/performance.md).
SQLModel still defines the tables, and Alembic migrates them.
"""

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from fastapi import Depends, Request

from app.core.config import Settings

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
)


class Database:
    """One pool per process, sized by the settings; created in the app's lifespan."""

    def __init__(self, settings: Settings, url: str) -> None:
        self._settings = settings
        self._params = parse_database_url(url)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        s = self._settings
        self._pool = await asyncpg.create_pool(
            dsn=self._params.dsn,
            min_size=s.db_pool_min_size,
            max_size=s.db_pool_max_size,
            timeout=self._params.connect_timeout or s.db_connect_timeout_seconds,
            command_timeout=s.db_command_timeout_seconds,
            max_inactive_connection_lifetime=s.db_pool_recycle_seconds,
            statement_cache_size=s.db_statement_cache_size,
            server_settings={"application_name": "todo-backend"},
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.open() has not been awaited")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; connection failures surface as DatabaseUnavailable."""
        try:
            async with self.pool.acquire(timeout=self._settings.db_pool_timeout_seconds) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self, within_seconds: float) -> bool:
        try:
            async with asyncio.timeout(within_seconds), self.connection() as conn:
                await conn.fetchval("SELECT 1")
        except (DatabaseUnavailable, TimeoutError):
            return False
        return True


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]
