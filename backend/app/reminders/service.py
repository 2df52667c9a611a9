"""The caller's upcoming reminders: for each live, open task with a due date, one reminder
per offset, at `due_at - offset`. Scoped by owner in SQL like every task query.

Served from ix_tasks_owner_reminders (owner, due_at; open live tasks that have reminders
only): an offset is at most 28 days, so the reminders in [from, to) belong to tasks due in
[from, to + 28 days), one range of that index.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
