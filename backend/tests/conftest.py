"""Shared fixtures: a real PostgreSQL (the embedded one, or TEST_DATABASE_URL's server), a
fresh database migrated from empty for the session, and a clean state for every test."""

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.core import migrate
from app.core.config import Settings
from app.core.database import parse_database_url
from app.core.embedded import start_embedded_postgres
from app.main import create_app
from app.users import service as users_service

TEST_SECRET = "test-secret-" + "x" * 40
TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL on the PostgreSQL server the tests use (not yet the test database).

    With TEST_DATABASE_URL_DIRECT set, TEST_DATABASE_URL names a pooler in front of that
    server (`make test-pgbouncer`): set-up and migrations go direct, the app through it.
    """
    given = os.environ.get("TEST_DATABASE_URL_DIRECT") or os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="todo-test-pg-") as data_dir:
        yield start_embedded_postgres(Path(data_dir), database="postgres")


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database created for this run and migrated from empty with Alembic."""
    name = f"todo_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = _with_database(server_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def app_database_url(database_url: str) -> str:
    """The URL the app under test serves through: the pooler's when there is one."""
    pooled = os.environ.get("TEST_DATABASE_URL")
    if not (pooled and os.environ.get("TEST_DATABASE_URL_DIRECT")):
        return database_url
    return _with_database(pooled, urlsplit(database_url).path.lstrip("/"))


def settings_for_tests(app_database_url: str, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        app_env="test",
        database_url=app_database_url,
        # LISTEN (live events) goes direct, never through a transaction pooler.
        database_url_direct=database_url,
        jwt_secret=TEST_SECRET,
        # No webhook delivery or reminder firing loop polling the pool: the tests of each
        # start one when needed.
        webhook_poll_seconds=0,
        reminder_poll_seconds=0,
        # Concurrent requests are bounded by count only (the overload tests measure the rest):
        # a rate measured on a test's few requests would say nothing of what the app can do.
        max_expected_wait_ms=0,
    )


@pytest.fixture
def settings(app_database_url: str, database_url: str) -> Settings:
    return settings_for_tests(app_database_url, database_url)


@pytest.fixture
async def clean_database(database_url: str) -> None:
    """Every test starts with no users and no tasks, and an empty provisioning cache."""
    # DELETE, not TRUNCATE: on tables this small it is several times faster per test. The
    # users' rows only, their tasks and the rest going by the foreign keys: users first, as
    # every writer locks them (a served app's reminder firing may be running).
    await _admin(database_url, "DELETE FROM users")
    users_service._known.clear()


@pytest.fixture
async def app(settings: Settings, clean_database: None) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture(scope="module")
async def shared_app(app_database_url: str, database_url: str) -> AsyncIterator[FastAPI]:
    """One app per test module. FastAPI analyses every route of a new app on its first
    request, which costs more than most tests; tests that only talk HTTP share this one
    (through `shared_client`) and still start from a clean database. Its pool is closed
    when the module ends, so tests elsewhere never see its connections."""
    application = create_app(settings_for_tests(app_database_url, database_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def shared_client(
    shared_app: FastAPI, clean_database: None
) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, on the module's app: for tests that change nothing but the database."""
    transport = httpx.ASGITransport(app=shared_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_with(settings: Settings, clean_database: None) -> ClientFactory:
    """Like `client`, on an app whose settings differ: `async with client_with(jwt_issuer=...)`,
    or `client_with(some_settings)` for settings built from scratch."""

    @asynccontextmanager
    async def open_client(
        base: Settings | None = None, **changes: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app((base or settings).model_copy(update=changes))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http

    return open_client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for checking what is (not) stored."""
    conn = await asyncpg.connect(parse_database_url(database_url).dsn)
    try:
        yield conn
    finally:
        await conn.close()


def make_token(
    sub: str | None = "alice",
    *,
    secret: str = TEST_SECRET,
    algorithm: str = "HS256",
    lifetime: int = 600,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + lifetime}
    if sub is not None:
        payload["sub"] = sub
    payload.update(claims)
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def auth(sub: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(sub, **claims)}"}


def app_state(client: httpx.AsyncClient) -> Any:
    """The `app.state` of the app a test client talks to (its database, housekeeping...)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state  # type: ignore[attr-defined]
