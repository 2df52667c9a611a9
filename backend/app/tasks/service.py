"""The only place that queries tasks. Every statement is scoped by `owner_id` in SQL, so a
task of another user behaves exactly like one that does not exist.

Every change to a task, by any route, advances its `version` (its ETag) and stamps it with
the owner's next change number: `users.change_seq` is bumped in the same statement, under
that user row's lock, so one user's changes are numbered in the order they commit.
Every statement that locks rows takes the owner's row first (then the task's, then its
tombstone's), so concurrent writes of one user queue up instead of deadlocking.
"""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.core.database import Database, Queries
from app.core.errors import ApiError
from app.tasks.listing import ListQuery, list_statement
from app.tasks.models import PRIORITIES
from app.users.service import forget_user, store_user

TaskRow = dict[str, Any]

# What a client sees of a task, in the order of the JSON.
PUBLIC_FIELDS = (
    "id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "due_at",
    "tags",
    "version",
    "owner_id",
    "created_at",
    "updated_at",
)
COLUMNS = ", ".join(PUBLIC_FIELDS)

# Columns a client may write (POST, PUT, PATCH); everything else is the server's.
WRITABLE = ("title", "description", "completed", "priority", "due_at", "tags")

# Live tasks only: a task in the trash is answered like one that does not exist.
LIVE = "deleted_at IS NULL"


class TaskNotFound(ApiError):
    def __init__(self) -> None:
        # The same answer whether the task does not exist or belongs to someone else.
        super().__init__(404, "task_not_found", "Task not found.")


class PreconditionFailed(ApiError):
    def __init__(self) -> None:
        super().__init__(
            412, "precondition_failed", "The task has changed since that version (If-Match)."
        )


Source = Database | Queries


@asynccontextmanager
async def connection(source: Source) -> AsyncIterator[Queries]:
    """A connection from the pool for one call, or the caller's own (e.g. a transaction)."""
    if isinstance(source, Database):
        async with source.connection() as conn:
            yield conn
    else:
        yield source


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: list[TaskRow]
    total: int


# Locks the owner's row and takes their next change number; ends every writing statement's
# WITH list (here and in the trash's restore). $OWNER is replaced by the statement's owner
# parameter.
NEXT_CHANGE = (
    "change AS (UPDATE users SET change_seq = change_seq + 1 WHERE id = $OWNER "
    "RETURNING change_seq)"
)

_GET = f"SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 AND {LIVE}"

_EXISTS = f"SELECT EXISTS (SELECT FROM tasks WHERE id = $1 AND owner_id = $2 AND {LIVE})"

_CREATE = f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$1")}
INSERT INTO tasks (owner_id, title, description, completed, completed_at, priority, due_at,
                   tags, change_seq)
SELECT $1, $2, $3, $4::boolean, CASE WHEN $4::boolean THEN now() END, $5, $6, $7,
       change.change_seq
FROM change
RETURNING {COLUMNS}
"""

# Moving to the trash is a change like any other (version, change number), and leaves the
# tombstone the change feed reports the deletion from (replacing one left by an earlier
# trashing, should the task have been restored since).
_TRASH = f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")},
trashed AS (
    UPDATE tasks SET deleted_at = now(), version = version + 1, updated_at = now(),
           change_seq = (SELECT change_seq FROM change)
    WHERE id = $1 AND owner_id = $2 AND {LIVE} AND ($3::integer[] IS NULL OR version = ANY($3))
    RETURNING owner_id, id, change_seq, deleted_at
),
tombstone AS (
    INSERT INTO tombstones (owner_id, task_id, change_seq, deleted_at)
    SELECT owner_id, id, change_seq, deleted_at FROM trashed
    ON CONFLICT (owner_id, task_id)
    DO UPDATE SET change_seq = EXCLUDED.change_seq, deleted_at = EXCLUDED.deleted_at
)
SELECT count(*) FROM trashed
"""


def _update_sql(assignments: list[str], versions_param: int) -> str:
    """An UPDATE of one live task ($1 id, $2 owner) that counts as a change, guarded by an
    optional list of acceptable versions (If-Match) in parameter `versions_param`."""
    return f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")}
UPDATE tasks SET {", ".join(assignments)}, version = version + 1, updated_at = now(),
       change_seq = (SELECT change_seq FROM change)
WHERE id = $1 AND owner_id = $2 AND {LIVE}
  AND (${versions_param}::integer[] IS NULL OR version = ANY(${versions_param}))
RETURNING {COLUMNS}
"""


def _completed_at(completed: str) -> str:
    # Stamped when the task becomes completed, kept while it stays so, cleared when reopened.
    return (
        f"completed_at = CASE WHEN {completed} "
        "THEN CASE WHEN completed THEN completed_at ELSE now() END END"
    )


_SET_COMPLETED = _update_sql(
    [
        "completed = COALESCE($3::boolean, NOT completed)",
        _completed_at("COALESCE($3::boolean, NOT completed)"),
    ],
    versions_param=4,
)


async def list_tasks(
    db: Source, owner_id: str, query: ListQuery, *, limit: int, offset: int
) -> TaskPage:
    """One page of the owner's live tasks that match `query`, and how many match in all."""
    sql, args = list_statement(owner_id, query, columns=COLUMNS, limit=limit, offset=offset)
    async with connection(db) as conn:
        rows = await conn.fetch(sql, *args)
    total = rows[0]["total"]
    tasks = [task_json(row) for row in rows if row["id"] is not None]
    return TaskPage(tasks=tasks, total=total)


async def get_task(db: Source, owner_id: str, task_id: uuid.UUID) -> TaskRow:
    async with connection(db) as conn:
        row = await conn.fetchrow(_GET, task_id, owner_id)
    if row is None:
        raise TaskNotFound()
    return task_json(row)


async def create_task(db: Source, owner_id: str, values: Mapping[str, Any]) -> TaskRow:
    """Create a task from every writable field (the schema has filled in the defaults)."""
    args = [_column_value(name, values[name]) for name in WRITABLE]
    async with connection(db) as conn:
        row = await conn.fetchrow(_CREATE, owner_id, *args)
        if row is None:
            # The user row vanished since this process cached it: provision it again, on
            # this connection (taking a second one could wait on a full pool).
            forget_user(owner_id)
            await store_user(conn, owner_id, None)
            row = await conn.fetchrow(_CREATE, owner_id, *args)
    return task_json(row)


async def update_task(
    db: Source,
    owner_id: str,
    task_id: uuid.UUID,
    values: Mapping[str, Any],
    *,
    if_versions: Sequence[int] | None = None,
) -> TaskRow:
    """Change the given writable fields (PUT gives them all, PATCH some) as one change.

    With `if_versions`, the change happens only if the task is at one of those versions,
    checked and written in one statement; otherwise PreconditionFailed. With no fields
    given nothing changes, not even `updated_at`, but the precondition still holds.
    """
    names = [name for name in WRITABLE if name in values]
    async with connection(db) as conn:
        if not names:
            row = await conn.fetchrow(_GET, task_id, owner_id)
            if row is not None and if_versions is not None and row["version"] not in if_versions:
                raise PreconditionFailed()
        else:
            assignments = [f"{name} = ${index}" for index, name in enumerate(names, start=3)]
            if "completed" in values:
                index = 3 + names.index("completed")
                assignments.append(_completed_at(f"${index}::boolean"))
            sql = _update_sql(assignments, versions_param=3 + len(names))
            args = [_column_value(name, values[name]) for name in names]
            row = await conn.fetchrow(sql, task_id, owner_id, *args, _versions(if_versions))
            if row is None:
                await _raise_missing_or_changed(conn, owner_id, task_id, if_versions)
    if row is None:
        raise TaskNotFound()
    return task_json(row)


async def set_completed(
    db: Source,
    owner_id: str,
    task_id: uuid.UUID,
    completed: bool | None,
    *,
    if_versions: Sequence[int] | None = None,
) -> TaskRow:
    """Set `completed`, or toggle it when `completed` is None, in one statement."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            _SET_COMPLETED, task_id, owner_id, completed, _versions(if_versions)
        )
        if row is None:
            await _raise_missing_or_changed(conn, owner_id, task_id, if_versions)
    return task_json(row)


async def delete_task(
    db: Source,
    owner_id: str,
    task_id: uuid.UUID,
    *,
    if_versions: Sequence[int] | None = None,
) -> None:
    """Move the task to the trash (see app/trash): gone from every other route, restorable
    until the retention sweep removes it for good."""
    async with connection(db) as conn:
        trashed = await conn.fetchval(_TRASH, task_id, owner_id, _versions(if_versions))
        if trashed != 1:
            await _raise_missing_or_changed(conn, owner_id, task_id, if_versions)


async def _raise_missing_or_changed(
    conn: Queries, owner_id: str, task_id: uuid.UUID, if_versions: Sequence[int] | None
) -> None:
    """After a guarded write matched nothing: 412 if the task is there, else 404."""
    if if_versions is not None and await conn.fetchval(_EXISTS, task_id, owner_id):
        raise PreconditionFailed()
    raise TaskNotFound()


def _versions(if_versions: Sequence[int] | None) -> list[int] | None:
    return None if if_versions is None else list(if_versions)


def _column_value(name: str, value: Any) -> Any:
    if name == "priority":
        return PRIORITIES.index(value)
    return value


def task_json(row: asyncpg.Record | None) -> TaskRow:
    """A task row as its public JSON fields (priority by name)."""
    assert row is not None
    task = {key: row[key] for key in PUBLIC_FIELDS}
    task["priority"] = PRIORITIES[task["priority"]]
    return task
