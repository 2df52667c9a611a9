"""Alembic runs on the same driver as the app (asyncpg), with the same URL translation."""

import asyncio
from logging.config import fileConfig

import asyncpg
from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.events.models
import app.idempotency.models
import app.reminders.models
import app.sync.models
import app.tasks.models
import app.users.models
import app.webhooks.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.core.database import parse_database_url
from app.core.migrate import MIGRATION_LOCK_KEY

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # Held to the end of the migrations' transaction (PostgreSQL's DDL is transactional),
        # taken before Alembic reads the current revision.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_online() -> None:
    params = parse_database_url(config.attributes["database_url"])

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(params.dsn, timeout=params.connect_timeout or 10)

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
asyncio.run(_run_online())
