"""The only place that queries tasks. Every statement is scoped by `owner_id` in SQL, so a
task of another user behaves exactly like one that does not exist."""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.core.database import Database
from app.users.service import forget_user, store_user

_COLUMNS = "id, title, description, completed, owner_id, created_at, updated_at"

TaskRow = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: list[TaskRow]
    total: int


# One round trip: the count and the page. The page is read from ix_tasks_owner_created.
_LIST = f"""
SELECT c.total, t.*
FROM (SELECT count(*) AS total FROM tasks
      WHERE owner_id = $1 AND ($2::boolean IS NULL OR completed = $2)) AS c
LEFT JOIN LATERAL (
    SELECT {_COLUMNS} FROM tasks
    WHERE owner_id = $1 AND ($2::boolean IS NULL OR completed = $2)
    ORDER BY created_at DESC, id DESC
    LIMIT $3 OFFSET $4
) AS t ON true
"""

_GET = f"SELECT {_COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2"

_CREATE = f"""
INSERT INTO tasks (owner_id, title, description, completed) VALUES ($1, $2, $3, $4)
RETURNING {_COLUMNS}
"""

_REPLACE = f"""
UPDATE tasks SET title = $3, description = $4, completed = $5, updated_at = now()
WHERE id = $1 AND owner_id = $2
RETURNING {_COLUMNS}
"""

_SET_COMPLETED = f"""
UPDATE tasks SET completed = COALESCE($3::boolean, NOT completed), updated_at = now()
WHERE id = $1 AND owner_id = $2
RETURNING {_COLUMNS}
"""

_DELETE = "DELETE FROM tasks WHERE id = $1 AND owner_id = $2"

# Columns a PATCH may change; the SET clause is built only from these names.
_PATCHABLE = ("title", "description", "completed")


async def list_tasks(
    db: Database, owner_id: str, *, completed: bool | None, limit: int, offset: int
) -> TaskPage:
    async with db.connection() as conn:
        rows = await conn.fetch(_LIST, owner_id, completed, limit, offset)
    total = rows[0]["total"]
    tasks = [_task(row) for row in rows if row["id"] is not None]
    return TaskPage(tasks=tasks, total=total)


async def get_task(db: Database, owner_id: str, task_id: uuid.UUID) -> TaskRow | None:
    async with db.connection() as conn:
        return _maybe_task(await conn.fetchrow(_GET, task_id, owner_id))


async def create_task(
    db: Database, owner_id: str, *, title: str, description: str | None, completed: bool
) -> TaskRow:
    async with db.connection() as conn:
        try:
            row = await conn.fetchrow(_CREATE, owner_id, title, description, completed)
        except asyncpg.ForeignKeyViolationError:
            # The user row vanished since this process cached it: provision it again, on
            # this connection (taking a second one could wait on a full pool).
            forget_user(owner_id)
            await store_user(conn, owner_id, None)
            row = await conn.fetchrow(_CREATE, owner_id, title, description, completed)
    return _task(row)


async def replace_task(
    db: Database,
    owner_id: str,
    task_id: uuid.UUID,
    *,
    title: str,
    description: str | None,
    completed: bool,
) -> TaskRow | None:
    async with db.connection() as conn:
        row = await conn.fetchrow(_REPLACE, task_id, owner_id, title, description, completed)
    return _maybe_task(row)


async def update_task(
    db: Database, owner_id: str, task_id: uuid.UUID, changes: dict[str, Any]
) -> TaskRow | None:
    """Change only the given fields; with none given, change nothing (not even updated_at)."""
    names = [name for name in _PATCHABLE if name in changes]
    if not names:
        return await get_task(db, owner_id, task_id)
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=3))
    sql = (
        f"UPDATE tasks SET {assignments}, updated_at = now() "
        f"WHERE id = $1 AND owner_id = $2 RETURNING {_COLUMNS}"
    )
    async with db.connection() as conn:
        row = await conn.fetchrow(sql, task_id, owner_id, *(changes[name] for name in names))
    return _maybe_task(row)


async def set_completed(
    db: Database, owner_id: str, task_id: uuid.UUID, completed: bool | None
) -> TaskRow | None:
    """Set `completed`, or toggle it when `completed` is None, in one statement."""
    async with db.connection() as conn:
        return _maybe_task(await conn.fetchrow(_SET_COMPLETED, task_id, owner_id, completed))


async def delete_task(db: Database, owner_id: str, task_id: uuid.UUID) -> bool:
    async with db.connection() as conn:
        status = await conn.execute(_DELETE, task_id, owner_id)
    return bool(status == "DELETE 1")


def _task(row: asyncpg.Record | None) -> TaskRow:
    assert row is not None
    return {
        key: row[key]
        for key in (
            "id",
            "title",
            "description",
            "completed",
            "owner_id",
            "created_at",
            "updated_at",
        )
    }


def _maybe_task(row: asyncpg.Record | None) -> TaskRow | None:
    return None if row is None else _task(row)
