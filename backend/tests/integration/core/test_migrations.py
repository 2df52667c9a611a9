"""Alembic owns the schema: up from empty, down to nothing, and up again, on a fresh database;
and the schema it makes is the one the models describe."""

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Schema:
    tables: list[str]
    list_index: list[str]
    on_delete: str | None
    version: str | None


async def _schema(url: str) -> Schema:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        tables = [
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        indexes = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_owner_created'"
        )
        on_delete = None
        if "tasks" in tables:
            on_delete = await conn.fetchval(
                "SELECT confdeltype::text FROM pg_constraint "
                "WHERE conrelid = 'public.tasks'::regclass AND contype = 'f'"
            )
        version = None
        if "alembic_version" in tables:
            version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    return Schema(tables, [row["indexdef"] for row in indexes], on_delete, version)


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
    assert asyncio.run(_schema(fresh_database_url)).tables == []

    command.upgrade(config, "head")
    up = asyncio.run(_schema(fresh_database_url))
    # never a table named "user"
    assert up.tables == [
        "alembic_version",
        "event_streams",
        "events",
        "idempotency_keys",
        "reminder_schedule",
        "tasks",
        "tombstones",
        "users",
        "webhook_deliveries",
        "webhooks",
    ]
    assert up.version is not None
    [index] = up.list_index
    assert "(owner_id, created_at DESC, id DESC)" in index
    assert up.on_delete == "c"  # tasks.owner_id -> users.id ON DELETE CASCADE
    migrate.check(fresh_database_url)  # the models and the migrations agree

    command.downgrade(config, "base")
    down = asyncio.run(_schema(fresh_database_url))
    assert down.tables == ["alembic_version"]
    assert down.version is None

    command.upgrade(config, "head")
    assert asyncio.run(_schema(fresh_database_url)) == up


def test_upgrading_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    before = asyncio.run(_schema(database_url))
    config = migrate.alembic_config(database_url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")
    assert asyncio.run(_schema(database_url)) == before


def _upgrade_quietly(url: str) -> None:
    config = migrate.alembic_config(url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


async def _upgrade_while_the_migration_lock_is_held(url: str) -> tuple[Schema, Schema]:
    """What the schema is while another session holds the migration lock, and after."""
    holder = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrate.MIGRATION_LOCK_KEY)
        upgrade = asyncio.create_task(asyncio.to_thread(_upgrade_quietly, url))
        await asyncio.sleep(1.5)
        assert not upgrade.done()
        while_held = await _schema(url)
        await holder.execute("SELECT pg_advisory_unlock($1)", migrate.MIGRATION_LOCK_KEY)
        await asyncio.wait_for(upgrade, timeout=60)
    finally:
        await holder.close()
    return while_held, await _schema(url)


def test_an_upgrade_waits_for_the_migration_lock(fresh_database_url: str) -> None:
    """Instances starting together take turns: none migrates while another holds the lock."""
    while_held, after = asyncio.run(_upgrade_while_the_migration_lock_is_held(fresh_database_url))
    assert while_held.tables == []
    assert after.version is not None
    assert "tasks" in after.tables
