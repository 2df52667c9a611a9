"""The benchmark's own database: chosen, created, migrated and seeded with set-based SQL."""

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.core import migrate
from app.core.database import parse_database_url
from app.core.embedded import start_embedded_postgres


@dataclass(frozen=True)
class Scale:
    users: int
    tasks_per_user: int

    @property
    def label(self) -> str:
        return f"{self.users:,} users x {self.tasks_per_user} tasks"

    @property
    def database(self) -> str:
        return f"todo_bench_{self.users}x{self.tasks_per_user}"


def server_url(given: str | None, data_dir: Path) -> str:
    """BENCH_DATABASE_URL's server, or an embedded PostgreSQL kept apart from `make run`'s."""
    if given:
        return given
    return start_embedded_postgres(data_dir, database="postgres")


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# Tasks are inserted in time order, as people create them, so one user's tasks are spread
# over the table as in real use; created_at is distinct per user (one hour apart).
_SEED_USERS = """
INSERT INTO users (id, email)
SELECT 'bench-' || lpad(u::text, 7, '0'), 'bench-' || u || '@example.test'
FROM generate_series(1, $1) AS u
"""
_SEED_TASKS = """
INSERT INTO tasks (owner_id, title, description, completed, created_at, updated_at)
SELECT 'bench-' || lpad(u::text, 7, '0'),
       'Task ' || n || ' of user ' || u,
       CASE WHEN n % 3 = 0 THEN 'A longer description of task ' || n || ', as people write.' END,
       n % 4 = 0,
       stamp, stamp
FROM generate_series(1, $2) AS n,
     generate_series(1, $1) AS u,
     LATERAL (SELECT now() - make_interval(hours => $2 - n, secs => u % 3600) AS stamp) AS s
ORDER BY n, u
"""
_SEED_MARK = "seeded {users}x{tasks}"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _seeded_mark(url: str, name: str) -> str | None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        mark: str | None = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        return mark
    finally:
        await conn.close()


async def _seed(url: str, scale: Scale) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        async with conn.transaction():
            # Building the list index once after the load is much faster than keeping it
            # up to date row by row; the migration's definition is restored unchanged.
            await conn.execute("DROP INDEX ix_tasks_owner_created")
            await conn.execute(_SEED_USERS, scale.users)
            await conn.execute(_SEED_TASKS, scale.users, scale.tasks_per_user)
            await conn.execute(
                "CREATE INDEX ix_tasks_owner_created ON tasks (owner_id, created_at DESC, id DESC)"
            )
        await conn.execute("VACUUM ANALYZE users")
        await conn.execute("VACUUM ANALYZE tasks")
    finally:
        await conn.close()


def prepare(server: str, scale: Scale, *, reuse: bool) -> str:
    """A migrated, seeded database for `scale`; with `reuse`, one seeded before is kept."""
    name = scale.database
    url = with_database(server, name)
    mark = _SEED_MARK.format(users=scale.users, tasks=scale.tasks_per_user)
    if reuse and asyncio.run(_seeded_mark(server, name)) == mark:
        print(f"reusing database {name} ({scale.label})", flush=True)
        return url
    started = time.monotonic()
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    migrate.upgrade(url)
    asyncio.run(_seed(url, scale))
    asyncio.run(_admin(server, f"COMMENT ON DATABASE \"{name}\" IS '{mark}'"))
    print(f"seeded {name}: {scale.label} in {time.monotonic() - started:.1f} s", flush=True)
    return url


async def _sample_users(url: str, count: int, tasks_each: int) -> list[tuple[str, list[str]]]:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT u.id, array(SELECT t.id::text FROM tasks AS t WHERE t.owner_id = u.id
                               ORDER BY t.created_at DESC, t.id DESC LIMIT $2) AS tasks
            FROM (SELECT id FROM users ORDER BY random() LIMIT $1) AS u
            """,
            count,
            tasks_each,
        )
        return [(row["id"], list(row["tasks"])) for row in rows]
    finally:
        await conn.close()


def sample_users(url: str, count: int, tasks_each: int = 10) -> list[tuple[str, list[str]]]:
    """`count` random seeded users, each with some of their task ids (never deleted)."""
    return asyncio.run(_sample_users(url, count, tasks_each))


async def _server_version(url: str) -> str:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def server_version(url: str) -> str:
    return asyncio.run(_server_version(url))
