"""Alembic owns the schema: up from empty, down to nothing, and up again, on a fresh database;
and the schema it makes is the one the models describe."""

import asyncio
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from alembic import command

from app.core import migrate
from app.core.database import parse_database_url


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _schema(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' ORDER BY table_name"
        )
        indexes = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_owner_created'"
        )
        cascade = await conn.fetchval(
            "SELECT confdeltype::text FROM pg_constraint WHERE conrelid = 'public.tasks'::regclass "
            "AND contype = 'f'"
        ) if any(t["table_name"] == "tasks" for t in tables) else None
        version = (
            await conn.fetchval("SELECT version_num FROM alembic_version")
            if any(t["table_name"] == "alembic_version" for t in tables)
            else None
        )
    finally:
        await conn.close()
    return {
        "tables": [t["table_name"] for t in tables],
        "index": [i["indexdef"] for i in indexes],
        "cascade": cascade,
        "version": version,
    }


@pytest.fixture
def fresh_database_url(server_url: str) -> Iterator[str]:
    name = f"todo_migrations_{secrets.token_hex(4)}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_upgrade_downgrade_and_upgrade_again_from_empty(fresh_database_url: str) -> None:
    config = migrate.alembic_config(fresh_database_url)
    config.attributes["configure_logging"] = False
    assert asyncio.run(_schema(fresh_database_url))["tables"] == []

    command.upgrade(config, "head")
    up = asyncio.run(_schema(fresh_database_url))
    assert up["tables"] == ["alembic_version", "tasks", "users"]  # never a table named "user"
    assert up["version"] is not None
    [index] = up["index"]
    assert isinstance(index, str)
    assert "(owner_id, created_at DESC, id DESC)" in index
    assert up["cascade"] == "c"  # tasks.owner_id -> users.id ON DELETE CASCADE
    migrate.check(fresh_database_url)  # the models and the migrations agree

    command.downgrade(config, "base")
    down = asyncio.run(_schema(fresh_database_url))
    assert down["tables"] == ["alembic_version"]
    assert down["version"] is None

    command.upgrade(config, "head")
    assert asyncio.run(_schema(fresh_database_url)) == up


def test_upgrading_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    before = asyncio.run(_schema(database_url))
    config = migrate.alembic_config(database_url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")
    assert asyncio.run(_schema(database_url)) == before
