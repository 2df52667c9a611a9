"""The benchmark's own database: chosen, created, migrated and seeded with set-based SQL."""

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
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
# over the table as in real use; created_at is distinct per user (one hour apart). The
# planning fields vary so that every list filter selects something: priority (half none, a
# tenth high), due dates on two tasks in five (from 30 days ago to 60 days ahead, so some are
# overdue), tags on about half (from a small vocabulary), and titles of everyday words (so a
# search such as `q=buy mi` finds a few tasks of each user). Completed tasks have completed_at.
_SEED_USERS = """
INSERT INTO users (id, email)
SELECT 'bench-' || lpad(u::text, 7, '0'), 'bench-' || u || '@example.test'
FROM generate_series(1, $1) AS u
"""
_SEED_TASKS = """
INSERT INTO tasks (owner_id, title, description, completed, completed_at, priority, due_at,
                   tags, created_at, updated_at)
SELECT 'bench-' || lpad(u::text, 7, '0'),
       (ARRAY['Buy', 'Call', 'Write', 'Fix', 'Plan', 'Read', 'Clean', 'Book', 'Pay',
              'Review'])[1 + (u + n) % 10]
         || ' ' || (ARRAY['milk', 'report', 'dentist', 'car', 'holiday', 'invoice', 'garden',
                          'slides', 'rent', 'tickets', 'groceries', 'budget',
                          'mint'])[1 + (u * 7 + n * 3) % 13]
         || ' ' || n,
       CASE WHEN n % 3 = 0 THEN 'A longer description of task ' || n || ', as people write.' END,
       n % 4 = 0,
       CASE WHEN n % 4 = 0 THEN stamp END,
       (ARRAY[0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3])[1 + (u + n * 7) % 11],
       CASE WHEN (u + n) % 5 < 2
            THEN now() + make_interval(hours => (u * 31 + n * 17) % 2160 - 720) END,
       CASE (u + n * 3) % 10
            WHEN 4 THEN '{work}'::text[]
            WHEN 5 THEN '{home}'
            WHEN 6 THEN '{work,urgent}'
            WHEN 7 THEN '{home,errands}'
            WHEN 8 THEN '{health}'
            WHEN 9 THEN '{finance,home}'
            ELSE '{}' END,
       stamp, stamp
FROM generate_series(1, $2) AS n,
     generate_series(1, $1) AS u,
     LATERAL (SELECT now() - make_interval(hours => $2 - n, secs => u % 3600) AS stamp) AS s
ORDER BY n, u
"""
# The same tasks for one named user (bench/plans.py adds a user with many).
_SEED_ONE_USER = _SEED_TASKS.replace("'bench-' || lpad(u::text, 7, '0')", "$3::text")
# The table's indexes but its primary key, as the migrations defined them.
_SECONDARY_INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid = 'tasks'::regclass AND NOT x.indisprimary
"""
# Names what was seeded, so that a database seeded by an older version is not reused.
_SEED_MARK = "seeded {users}x{tasks} with planning fields"


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
        # Index builds (the GIN ones above all) sort in memory when they can.
        await conn.execute("SET maintenance_work_mem = '1GB'")
        async with conn.transaction():
            # Building the indexes once after the load is much faster than keeping them up
            # to date row by row; the migrations' definitions are restored unchanged.
            indexes = await conn.fetch(_SECONDARY_INDEXES)
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["name"]}"')
            await conn.execute(_SEED_USERS, scale.users)
            await conn.execute(_SEED_TASKS, scale.users, scale.tasks_per_user)
            for index in indexes:
                await conn.execute(index["definition"])
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


async def _add_user(url: str, user_id: str, tasks: int) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM users WHERE id = $1", user_id)
            await conn.execute("INSERT INTO users (id) VALUES ($1)", user_id)
            await conn.execute(_SEED_ONE_USER, 1, tasks, user_id)
        await conn.execute("ANALYZE tasks")
    finally:
        await conn.close()


def add_user(url: str, user_id: str, tasks: int) -> None:
    """One more user with `tasks` tasks, seeded like the others (replacing any before)."""
    asyncio.run(_add_user(url, user_id, tasks))


def remove_user(url: str, user_id: str) -> None:
    asyncio.run(_admin(url, f"DELETE FROM users WHERE id = '{user_id}'"))


def drop(server: str, scale: Scale) -> None:
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{scale.database}" WITH (FORCE)'))


async def _sample_users(url: str, count: int, tasks_each: int) -> list[tuple[str, list[str]]]:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT u.id, array(SELECT t.id::text FROM tasks AS t
                               WHERE t.owner_id = u.id AND t.deleted_at IS NULL
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


async def _value(url: str, query: str, *args: Any) -> Any:
    """One value of one statement, on a connection of its own."""
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def server_version(url: str) -> str:
    version: str = asyncio.run(_value(url, "SHOW server_version"))
    return version


# What bench/lua/todo.lua titles the tasks it creates.
CREATED_TITLE = "Benchmark task"


def created_count(url: str) -> int:
    """Tasks the benchmark's creates have stored so far, for checking that none was lost
    (trashed ones included: the mix and the writes delete some of what they created)."""
    count: int = asyncio.run(
        _value(url, "SELECT count(*) FROM tasks WHERE title = $1", CREATED_TITLE)
    )
    return count


def last_event_id(url: str) -> int:
    """The outbox's newest event id: what a run added to it is the difference."""
    last: int = asyncio.run(_value(url, "SELECT coalesce(max(id), 0) FROM events"))
    return last


# The triggers that do the outbox's work in the statement of every task change. The write
# comparison disables them to measure the API as it was before the outbox; a name absent from
# the database is skipped, so this can name the triggers of migrations not applied yet.
OUTBOX_TRIGGERS = (
    "tasks_outbox",
    "tasks_reminder_schedule_insert",
    "tasks_reminder_schedule_update",
)

_ENABLED_OUTBOX_TRIGGERS = """
SELECT tgname FROM pg_trigger
WHERE tgrelid = 'tasks'::regclass AND NOT tgisinternal AND tgenabled <> 'D'
  AND tgname = ANY($1::text[])
ORDER BY tgname
"""


async def _set_triggers(url: str, names: tuple[str, ...] | None, enabled: bool) -> tuple[str, ...]:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        async with conn.transaction():
            if names is None:
                rows = await conn.fetch(_ENABLED_OUTBOX_TRIGGERS, list(OUTBOX_TRIGGERS))
                names = tuple(row["tgname"] for row in rows)
            for name in names:
                action = "ENABLE" if enabled else "DISABLE"
                await conn.execute(f'ALTER TABLE tasks {action} TRIGGER "{name}"')
        return names
    finally:
        await conn.close()


@contextmanager
def outbox_disabled(url: str) -> Iterator[tuple[str, ...]]:
    """The enabled outbox triggers disabled (their names yielded), and enabled again whatever
    happens meanwhile: a failed run never leaves the database without its outbox."""
    disabled = asyncio.run(_set_triggers(url, None, enabled=False))
    try:
        yield disabled
    finally:
        asyncio.run(_set_triggers(url, disabled, enabled=True))
