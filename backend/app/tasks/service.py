"""The only place that queries tasks. Every statement is scoped by `owner_id` in SQL, so a
task of another user behaves exactly like one that does not exist.

Every change to a task, by any route, advances its `version` (its ETag) and stamps it with
the owner's next change number: `users.change_seq` is bumped in the same statement, under
that user row's lock, so one user's changes are numbered in the order they commit.
Every statement that locks rows takes the owner's row first (then the task's, then its
tombstone's), so concurrent writes of one user queue up instead of deadlocking.
"""

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from fastapi.encoders import jsonable_encoder

from app.core.database import Database, Queries
from app.core.errors import ApiError
from app.tasks.fields import PRIORITIES
from app.tasks.listing import ListQuery, list_statement
from app.tasks.recurrence import InvalidRule, check_schedule, next_occurrence, parse_rule
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
    "recurrence",
    "time_zone",
    "reminders",
    "series_id",
    "next_id",
    "version",
    "owner_id",
    "created_at",
    "updated_at",
)
COLUMNS = ", ".join(PUBLIC_FIELDS)
# What the writes that may need the stored task return: also its place in its series.
_WRITE_COLUMNS = f"{COLUMNS}, occurrence"

# Columns a client may write (POST, PUT, PATCH); everything else is the server's.
WRITABLE = (
    "title",
    "description",
    "completed",
    "priority",
    "due_at",
    "tags",
    "recurrence",
    "time_zone",
    "reminders",
)
# The fields whose combination the schedule rules check (recurrence needs due_at and must
# repeat after it, in time_zone).
_SCHEDULE = ("recurrence", "due_at", "time_zone")
# A checked write that lost a race (the task changed between reading and writing it) reads
# the task again and retries, at most this many times.
_MAX_WRITE_ATTEMPTS = 10

# Live tasks only: a task in the trash is answered like one that does not exist.
LIVE = "deleted_at IS NULL"


class TaskNotFound(ApiError):
    def __init__(self) -> None:
        # The same answer whether the task does not exist or belongs to someone else.
        super().__init__(404, "task_not_found", "Task not found.")


class InvalidSchedule(ApiError):
    def __init__(self, field: str, message: str, value: Any) -> None:
        super().__init__(
            422,
            "validation_error",
            [
                {
                    "type": "value_error",
                    "loc": ["body", field],
                    "msg": message,
                    "input": jsonable_encoder(value),
                }
            ],
        )


class WriteConflict(ApiError):
    def __init__(self) -> None:
        super().__init__(
            409, "write_conflict", "The task kept changing while this request ran; retry it."
        )


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

# Public: the benchmark's raw-driver ceiling (bench/ceiling_app.py) runs the same statements.
GET_TASK = f"SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 AND {LIVE}"

_EXISTS = f"SELECT EXISTS (SELECT FROM tasks WHERE id = $1 AND owner_id = $2 AND {LIVE})"

_GET_FOR_WRITE = f"SELECT {_WRITE_COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 AND {LIVE}"

# A task created with a recurrence starts its own series.
CREATE_TASK = f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$1")}
INSERT INTO tasks (id, owner_id, title, description, completed, completed_at, priority, due_at,
                   tags, recurrence, time_zone, reminders, series_id, change_seq)
SELECT fresh.id, $1, $2, $3, $4::boolean, CASE WHEN $4::boolean THEN now() END, $5, $6, $7,
       $8::text, $9, $10, CASE WHEN $8::text IS NOT NULL THEN fresh.id END, change.change_seq
FROM change, (SELECT gen_random_uuid() AS id) AS fresh
RETURNING {COLUMNS}
"""

# Moving to the trash is a change like any other (version, change number), and leaves the
# tombstone the change feed reports the deletion from (replacing one left by an earlier
# trashing, should the task have been restored since).
TRASH_TASK = f"""
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


def update_statement(assignments: list[str], versions_param: int, guard: str | None = None) -> str:
    """An UPDATE of one live task ($1 id, $2 owner) that counts as a change, guarded by an
    optional list of acceptable versions (If-Match) in parameter `versions_param`.

    With a `guard` (a condition under which this statement may write; otherwise the write
    needs the stored task, see `_write_checked`), the rows have a first column `written`:
    the task as written, or, when the task is there but was not written, as it is (with
    its `version`, so a 412 needs no second look).
    """
    update = f"""
UPDATE tasks SET {", ".join(assignments)}, version = version + 1, updated_at = now(),
       change_seq = (SELECT change_seq FROM change)
WHERE id = $1 AND owner_id = $2 AND {LIVE}
  AND (${versions_param}::integer[] IS NULL OR version = ANY(${versions_param}))"""
    if guard is None:
        return f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")}
{update}
RETURNING {COLUMNS}
"""
    return f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")},
updated AS ({update}
  AND {guard}
RETURNING {_WRITE_COLUMNS}
)
SELECT true AS written, * FROM updated
UNION ALL
SELECT false, {_WRITE_COLUMNS} FROM tasks
WHERE id = $1 AND owner_id = $2 AND {LIVE} AND NOT EXISTS (SELECT FROM updated)
"""


def _checked_update_sql(assignments: list[str], version_param: int, *, creates: bool) -> str:
    """The write of `_write_checked`: one live task ($1 id, $2 owner) at exactly the version
    in `version_param` (the one its checks read). With `creates`, it is being completed and
    its next occurrence is created in the same statement: id in the parameter after the
    version, due date in the one after that. `next_id IS NULL` makes that happen at most
    once per occurrence, whatever runs at the same time (the row lock serialises them, and
    the condition is checked again on the row as the earlier writer left it)."""
    assigned = ", ".join(assignments)
    if not creates:
        return f"""
WITH {NEXT_CHANGE.replace("$OWNER", "$2")}
UPDATE tasks SET {assigned}, version = version + 1, updated_at = now(),
       change_seq = (SELECT change_seq FROM change)
WHERE id = $1 AND owner_id = $2 AND {LIVE} AND version = ${version_param}
RETURNING {_WRITE_COLUMNS}
"""
    next_id, next_due = f"${version_param + 1}", f"${version_param + 2}"
    # Two changes, each with its own number: the completion, then the creation.
    return f"""
WITH change AS (
    UPDATE users SET change_seq = change_seq + 2 WHERE id = $2 RETURNING change_seq
),
updated AS (
    UPDATE tasks SET {assigned}, next_id = {next_id}::uuid, version = version + 1,
           updated_at = now(), change_seq = (SELECT change_seq - 1 FROM change)
    WHERE id = $1 AND owner_id = $2 AND {LIVE} AND version = ${version_param}
      AND NOT completed AND next_id IS NULL
    RETURNING {_WRITE_COLUMNS}
),
created AS (
    INSERT INTO tasks (id, owner_id, title, description, priority, due_at, tags, recurrence,
                       time_zone, reminders, series_id, occurrence, change_seq)
    SELECT {next_id}::uuid, owner_id, title, description, priority, {next_due}::timestamptz,
           tags, recurrence, time_zone, reminders, COALESCE(series_id, id), occurrence + 1,
           (SELECT change_seq FROM change)
    FROM updated
)
SELECT * FROM updated
"""


def _assignments(values: Mapping[str, Any], first_param: int) -> tuple[list[str], list[Any]]:
    """SET items for the writable fields in `values`, numbered from `first_param`, and
    their arguments."""
    names = [name for name in WRITABLE if name in values]
    params = {name: f"${index}" for index, name in enumerate(names, start=first_param)}
    assignments = [f"{name} = {param}" for name, param in params.items()]
    if "completed" in params:
        assignments.append(completed_at_assignment(f"{params['completed']}::boolean"))
    if "recurrence" in params:
        # The first recurrence makes the task the first of its series; the series stays.
        assignments.append(
            f"series_id = CASE WHEN {params['recurrence']}::text IS NOT NULL "
            "THEN COALESCE(series_id, id) ELSE series_id END"
        )
    return assignments, [_column_value(name, values[name]) for name in names]


def _needs_stored_task(values: Mapping[str, Any]) -> bool:
    """Whether the write cannot be checked without the stored task: it sets a recurrence
    that repeats from a stored due date or in a stored zone."""
    return values.get("recurrence") is not None and not all(name in values for name in _SCHEDULE)


def update_guard(values: Mapping[str, Any], params: Mapping[str, str]) -> str | None:
    """When an update may write without looking at the stored task: not when it completes
    a repeating task that has no next occurrence yet (which must create one), nor when it
    moves a repeating task's due date or zone (whose rule must still repeat after it)."""
    conditions = []
    if values.get("completed") is True:
        recurrence = f"{params['recurrence']}::text" if "recurrence" in params else "recurrence"
        conditions.append(f"NOT (NOT completed AND next_id IS NULL AND {recurrence} IS NOT NULL)")
    if "recurrence" not in values and ("due_at" in values or "time_zone" in values):
        conditions.append("recurrence IS NULL")
    return " AND ".join(conditions) or None


def completed_at_assignment(completed: str) -> str:
    # Stamped when the task becomes completed, kept while it stays so, cleared when reopened.
    return (
        f"completed_at = CASE WHEN {completed} "
        "THEN CASE WHEN completed THEN completed_at ELSE now() END END"
    )


SET_COMPLETED = update_statement(
    [
        "completed = COALESCE($3::boolean, NOT completed)",
        completed_at_assignment("COALESCE($3::boolean, NOT completed)"),
    ],
    versions_param=4,
    guard="NOT (NOT completed AND COALESCE($3::boolean, true) AND next_id IS NULL "
    "AND recurrence IS NOT NULL)",
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
        row = await conn.fetchrow(GET_TASK, task_id, owner_id)
    if row is None:
        raise TaskNotFound()
    return task_json(row)


async def provision_owner(conn: Queries, owner_id: str) -> None:
    """Provision again an owner whose row was found missing: the account was erased since
    this process cached it, so the caller now starts a new, empty one. Every task write and
    the change feed need the row (it holds the owner's change counter). On the caller's
    connection: taking a second one could wait on a full pool."""
    forget_user(owner_id)
    await store_user(conn, owner_id, None)


async def create_task(db: Source, owner_id: str, values: Mapping[str, Any]) -> TaskRow:
    """Create a task from every writable field (the schema has filled in the defaults)."""
    args = [_column_value(name, values[name]) for name in WRITABLE]
    async with connection(db) as conn:
        row = await conn.fetchrow(CREATE_TASK, owner_id, *args)
        if row is None:
            await provision_owner(conn, owner_id)
            row = await conn.fetchrow(CREATE_TASK, owner_id, *args)
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
            row = await conn.fetchrow(GET_TASK, task_id, owner_id)
            if row is not None and if_versions is not None and row["version"] not in if_versions:
                raise PreconditionFailed()
        elif _needs_stored_task(values):
            row = await _write_checked(conn, owner_id, task_id, lambda _: values, if_versions)
        else:
            assignments, args = _assignments(values, first_param=3)
            params = {name: f"${index}" for index, name in enumerate(names, start=3)}
            guard = update_guard(values, params)
            sql = update_statement(assignments, versions_param=3 + len(names), guard=guard)
            row = await conn.fetchrow(sql, task_id, owner_id, *args, _versions(if_versions))
            if row is None:
                await _raise_missing_or_changed(conn, owner_id, task_id, if_versions)
            elif guard is not None and not row["written"]:
                row = await _write_checked(
                    conn, owner_id, task_id, lambda _: values, if_versions, current=row
                )
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
    """Set `completed`, or toggle it when `completed` is None, in one statement (two when it
    completes a repeating task, which creates the next occurrence)."""

    def change(current: asyncpg.Record) -> dict[str, Any]:
        return {"completed": not current["completed"] if completed is None else completed}

    async with connection(db) as conn:
        row = await conn.fetchrow(
            SET_COMPLETED, task_id, owner_id, completed, _versions(if_versions)
        )
        if row is None:
            raise TaskNotFound()
        if not row["written"]:
            row = await _write_checked(conn, owner_id, task_id, change, if_versions, current=row)
    return task_json(row)


async def _write_checked(
    conn: Queries,
    owner_id: str,
    task_id: uuid.UUID,
    change: Callable[[asyncpg.Record], Mapping[str, Any]],
    if_versions: Sequence[int] | None,
    *,
    current: asyncpg.Record | None = None,
) -> asyncpg.Record:
    """A write that needs the stored task: the schedule rules checked against it, and, when
    it completes a repeating task, the next occurrence created with it. `change` gives the
    fields to write from the task as it is; `current` is the task if already read.

    Read, check, then write only if the task is still at the version read; if it changed in
    between, all again.
    """
    for _ in range(_MAX_WRITE_ATTEMPTS):
        if current is None:
            current = await conn.fetchrow(_GET_FOR_WRITE, task_id, owner_id)
            if current is None:
                raise TaskNotFound()
        if if_versions is not None and current["version"] not in if_versions:
            raise PreconditionFailed()
        values = change(current)
        schedule = {name: values.get(name, current[name]) for name in _SCHEDULE}
        if any(name in values for name in _SCHEDULE):
            _check_schedule(values, schedule)
        next_due = None
        if values.get("completed") is True and not current["completed"]:
            next_due = _next_due(current, schedule)
        assignments, args = _assignments(values, first_param=3)
        version_param = 3 + len(args)
        if next_due is not None:
            sql = _checked_update_sql(assignments, version_param, creates=True)
            args += [current["version"], uuid.uuid4(), next_due]
        else:
            sql = _checked_update_sql(assignments, version_param, creates=False)
            args.append(current["version"])
        row = await conn.fetchrow(sql, task_id, owner_id, *args)
        if row is not None:
            return row
        current = None
    raise WriteConflict()


def _check_schedule(values: Mapping[str, Any], schedule: Mapping[str, Any]) -> None:
    try:
        check_schedule(schedule["recurrence"], schedule["due_at"], schedule["time_zone"])
    except ValueError as exc:
        field = "due_at" if "recurrence" not in values and "due_at" in values else "recurrence"
        raise InvalidSchedule(field, str(exc), values.get(field, schedule[field])) from None


def _next_due(current: asyncpg.Record, schedule: Mapping[str, Any]) -> datetime | None:
    """The due date of the occurrence that completing `current` creates, if it creates one."""
    if current["next_id"] is not None or schedule["recurrence"] is None:
        return None
    try:
        rule = parse_rule(schedule["recurrence"])
    except InvalidRule:
        return None  # stored under rules since tightened: the series ends here
    return next_occurrence(rule, schedule["due_at"], schedule["time_zone"], current["occurrence"])


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
        trashed = await conn.fetchval(TRASH_TASK, task_id, owner_id, _versions(if_versions))
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
