"""The caller's upcoming reminders: for each live, open task with a due date, one reminder
per offset, at `due_at - offset`. Scoped by owner in SQL like every task query. And the
firing of those reminders as `reminder.due` events (app/reminders/firing.py runs the rounds).

Served from ix_tasks_owner_reminders (owner, due_at; open live tasks that have reminders
only): an offset is at most 28 days, so the reminders in [from, to) belong to tasks due in
[from, to + 28 days), one range of that index.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.database import Database, PooledConnection, Queries
from app.events.fields import CHANNEL, REMINDER_DUE
from app.tasks.recurrence import REMINDER_MAX_OFFSET
from app.tasks.service import Source, connection

# `r::interval` reads the stored ISO 8601 offset; its seconds are exact (a day is 24 hours
# whatever the session's time zone).
_REMINDERS = """
SELECT t.id AS task_id, t.title, t.due_at - make_interval(secs => o.seconds) AS remind_at,
       t.due_at, o.reminder AS "offset"
FROM tasks AS t
CROSS JOIN LATERAL (
    SELECT r AS reminder, extract(epoch FROM r::interval) AS seconds FROM unnest(t.reminders) AS r
) AS o
WHERE t.owner_id = $1 AND t.deleted_at IS NULL AND NOT t.completed
  AND t.reminders <> '{}'::text[]
  AND t.due_at >= $2 AND t.due_at < $3::timestamptz + $4::interval
  AND t.due_at - make_interval(secs => o.seconds) >= $2
  AND t.due_at - make_interval(secs => o.seconds) < $3
ORDER BY remind_at, task_id
LIMIT $5
"""


@dataclass(frozen=True, slots=True)
class ReminderPage:
    reminders: list[dict[str, Any]]
    has_more: bool


async def upcoming_reminders(
    db: Source, owner_id: str, start: datetime, end: datetime, limit: int
) -> ReminderPage:
    """The owner's reminders with `start` <= remind_at < `end`, the first `limit` of them."""
    async with connection(db) as conn:
        rows = await conn.fetch(_REMINDERS, owner_id, start, end, REMINDER_MAX_OFFSET, limit + 1)
    return ReminderPage([dict(row) for row in rows[:limit]], has_more=len(rows) > limit)


# -- firing (app/reminders/firing.py) ----------------------------------------------------------
#
# A round is one short transaction. Lock order is the writers' (app/tasks/service.py): the
# owners' rows first, then what hangs off them. Every task write holds its owner's row lock
# from its first statement to its commit, and the triggers that keep `reminder_schedule`
# (migration 0009) run inside those writes; so while a round holds an owner's row, that
# owner's schedule rows and tasks cannot change, and the statements after the lock (each
# with a fresh snapshot, READ COMMITTED) read them as committed. The event is numbered
# under that lock, like every change's, so one owner's event ids still commit in order.
# Owners are locked in id order and without waiting (SKIP LOCKED): a round never waits on a
# writer or on another instance's round, so it cannot be part of a deadlock; an owner
# skipped is tried again shortly.

# Owners with instants due and not yet handled (no lock: only candidates).
_DUE_OWNERS = """
SELECT owner_id, count(*) AS instants FROM (
    SELECT owner_id FROM reminder_schedule
    WHERE fired_at IS NULL AND remind_at <= now()
    ORDER BY remind_at
    LIMIT $1
) AS due
GROUP BY owner_id
"""

_LOCK_OWNERS = """
SELECT id FROM users WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE SKIP LOCKED
"""

# Handles every due instant of the locked owners: marks it fired, and emits it unless it is
# more than the grace late. The task is checked again (live, open, the same due date, the
# offset still set), though the triggers already remove the instants of any other task.
# The event's change number is the owner's current one, so its cursor is the change feed's
# position when it fired.
_FIRE = """
WITH fired AS (
    UPDATE reminder_schedule AS s
    SET fired_at = now(),
        emitted = s.remind_at >= now() - make_interval(mins => $2)
                  AND t.deleted_at IS NULL AND NOT t.completed AND t.due_at = s.due_at
                  AND s.reminder_offset = ANY (t.reminders)
    FROM tasks AS t
    WHERE s.owner_id = ANY($1::text[]) AND s.fired_at IS NULL AND s.remind_at <= now()
      AND t.id = s.task_id AND t.owner_id = s.owner_id
    RETURNING s.owner_id, s.task_id, s.reminder_offset, s.remind_at, s.emitted,
              task_event_data(t) AS task
),
emitted AS (
    INSERT INTO events (owner_id, type, task_id, change_seq, data)
    SELECT f.owner_id, $3, f.task_id, u.change_seq,
           json_build_object('task', f.task, 'remind_at', api_time(f.remind_at),
                             'offset', f.reminder_offset)
    FROM fired AS f JOIN users AS u ON u.id = f.owner_id
    WHERE f.emitted
    ORDER BY f.owner_id, f.remind_at, f.task_id, f.reminder_offset
    RETURNING owner_id
)
SELECT (SELECT count(*) FROM emitted) AS emitted,
       (SELECT count(*) FROM fired WHERE NOT emitted) AS skipped,
       (SELECT COALESCE(array_agg(DISTINCT owner_id), '{}') FROM emitted) AS owners
"""

# As the outbox trigger does: a wake-up only for owners someone is streaming.
_NOTIFY = """
SELECT pg_notify($1, o) FROM unnest($2::text[]) AS o
WHERE EXISTS (SELECT FROM event_streams WHERE owner_id = o)
"""

# Handled instants older than the event retention. Never one less than the grace late
# either: the triggers would schedule it again, should its task be reopened, and it would
# fire a second time.
_PURGE_HANDLED = """
DELETE FROM reminder_schedule WHERE (task_id, reminder_offset, due_at) IN (
    SELECT task_id, reminder_offset, due_at FROM reminder_schedule
    WHERE fired_at IS NOT NULL AND fired_at < now() - make_interval(hours => $1)
      AND remind_at < now() - make_interval(mins => $2)
    ORDER BY fired_at LIMIT $3
)
"""


@dataclass(frozen=True, slots=True)
class FiringRound:
    emitted: int
    skipped: int
    # Some due owners were left for later: busy writing, or another instance's round had them.
    contended: bool
    # As many candidates as a round looks at: more may be due.
    full: bool


async def due_owners(db: Database, batch_size: int) -> tuple[list[str], bool]:
    """Owners of the first `batch_size` due instants, and whether there were that many."""
    async with db.connection() as conn:
        rows = await conn.fetch(_DUE_OWNERS, batch_size)
    return [row["owner_id"] for row in rows], sum(row["instants"] for row in rows) >= batch_size


async def fire_due(db: Database, grace_minutes: int, batch_size: int) -> FiringRound:
    """One round: every due, unhandled reminder instant of up to `batch_size` instants'
    owners emitted as a `reminder.due` event (or skipped when more than the grace late),
    each exactly once whatever the number of instances running rounds."""
    candidates, full = await due_owners(db, batch_size)
    if not candidates:
        return FiringRound(0, 0, contended=False, full=False)

    async def fire(conn: PooledConnection) -> FiringRound:
        raw = conn.raw
        async with raw.transaction():
            owners = [row["id"] for row in await raw.fetch(_LOCK_OWNERS, candidates)]
            emitted, skipped, notify = 0, 0, []
            if owners:
                row = await raw.fetchrow(_FIRE, owners, grace_minutes, REMINDER_DUE)
                assert row is not None
                emitted, skipped, notify = row["emitted"], row["skipped"], row["owners"]
                if notify:
                    await raw.execute(_NOTIFY, CHANNEL, notify)
        return FiringRound(
            emitted,
            skipped,
            contended=len(owners) < len(candidates),
            full=full,
        )

    return await db.run(fire)


async def purge_handled_instants(
    conn: Queries, retention_hours: int, grace_minutes: int, batch_size: int
) -> tuple[int, bool]:
    """The retention sweep's job: handled reminder instants past the event retention."""
    status = await conn.execute(_PURGE_HANDLED, retention_hours, grace_minutes, batch_size)
    removed = int(status.split()[-1])
    return removed, removed == batch_size
