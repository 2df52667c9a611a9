"""The trash: tasks moved there by DELETE (app/tasks/service.py `delete_task`), listed,
restored, removed for good, and emptied by the retention sweep. Every statement is scoped
by `owner_id`; a task that is not in the caller's trash is answered as not found.

Restoring is a change (version, updated_at, change number) and deletes the task's
tombstone, so the change feed reports the task again and no longer as deleted. Removing for
good keeps the tombstone: a client that has not synced since still learns of the deletion.
"""

import uuid
from dataclasses import dataclass

from app.core.database import Queries
from app.tasks.service import (
    COLUMNS,
    NEXT_CHANGE,
    Source,
    TaskNotFound,
    TaskRow,
    connection,
    task_json,
)

TRASHED = "deleted_at IS NOT NULL"

_LIST = f"""
SELECT c.total, t.*
FROM (SELECT count(*) AS total FROM tasks WHERE owner_id = $1 AND {TRASHED}) AS c
LEFT JOIN LATERAL (
    SELECT {COLUMNS}, deleted_at FROM tasks
    WHERE owner_id = $1 AND {TRASHED}
    ORDER BY deleted_at DESC, id DESC
    LIMIT $2 OFFSET $3
) AS t ON true
"""

_RESTORE = f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")},
restored AS (
    UPDATE tasks SET deleted_at = NULL, version = version + 1, updated_at = now(),
           change_seq = (SELECT change_seq FROM change)
    WHERE id = $1 AND owner_id = $2 AND {TRASHED}
    RETURNING {COLUMNS}
),
unmourned AS (
    DELETE FROM tombstones WHERE owner_id = $2 AND task_id IN (SELECT id FROM restored)
)
SELECT * FROM restored
"""

# Removing for good emits a `task.purged` event (the outbox trigger, migration 0007), which is
# numbered under the owner's row lock like every change: the owner's row is locked before the
# task's, the order of every other writer, so that the two cannot deadlock.
_REMOVE = f"""
WITH owner AS (SELECT id FROM users WHERE id = $2 FOR UPDATE)
DELETE FROM tasks WHERE id = $1 AND owner_id = (SELECT id FROM owner) AND {TRASHED}
"""

# The oldest expired first, a batch at a time. Their owners' rows are locked first (each
# purge emits an event numbered under that lock, see _REMOVE): owners busy writing are
# skipped, as are rows a restore is changing; the next sweep sees them again.
_EXPIRED = f"{TRASHED} AND deleted_at < now() - make_interval(days => $1)"
_PURGE_EXPIRED = f"""
WITH doomed AS MATERIALIZED (
    SELECT id, owner_id FROM tasks WHERE {_EXPIRED} ORDER BY deleted_at LIMIT $2
),
owners AS MATERIALIZED (
    SELECT id FROM users WHERE id IN (SELECT owner_id FROM doomed)
    ORDER BY id FOR UPDATE SKIP LOCKED
)
DELETE FROM tasks
WHERE id IN (SELECT id FROM doomed) AND owner_id IN (SELECT id FROM owners) AND {_EXPIRED}
"""


@dataclass(frozen=True, slots=True)
class TrashPage:
    tasks: list[TaskRow]
    total: int


async def list_trash(db: Source, owner_id: str, *, limit: int, offset: int) -> TrashPage:
    """The owner's trashed tasks, most recently trashed first, each with `deleted_at`."""
    async with connection(db) as conn:
        rows = await conn.fetch(_LIST, owner_id, limit, offset)
    tasks = [
        {**task_json(row), "deleted_at": row["deleted_at"]} for row in rows if row["id"] is not None
    ]
    return TrashPage(tasks=tasks, total=rows[0]["total"])


async def restore_task(db: Source, owner_id: str, task_id: uuid.UUID) -> TaskRow:
    async with connection(db) as conn:
        row = await conn.fetchrow(_RESTORE, task_id, owner_id)
    if row is None:
        raise TaskNotFound()
    return task_json(row)


async def remove_for_good(db: Source, owner_id: str, task_id: uuid.UUID) -> None:
    async with connection(db) as conn:
        status = await conn.execute(_REMOVE, task_id, owner_id)
    if status != "DELETE 1":
        raise TaskNotFound()


async def purge_expired_trash(
    conn: Queries, retention_days: int, batch_size: int
) -> tuple[int, bool]:
    """Remove for good up to `batch_size` tasks trashed more than `retention_days` ago, of
    every owner. Returns how many, and whether more may be waiting."""
    status = await conn.execute(_PURGE_EXPIRED, retention_days, batch_size)
    removed = int(status.split()[-1])
    return removed, removed == batch_size
