"""Reminders that fire: `reminder_schedule`, one row per reminder instant of a live, open
task (due_at minus one of its offsets), kept by triggers on `tasks` in the statement of every
change that can move one, and fired by each instance's firing loop (app/reminders/firing.py).

The triggers' WHEN clauses keep the common write, a task without reminders, free of any
function call. On a change, the task's unhandled rows that no longer match are removed and
the current ones inserted ON CONFLICT DO NOTHING: a (task, offset, due date) that was already
handled is never handled again, even if the due date moves away and back. Completing or
trashing removes the unhandled rows (cancels); reopening or restoring puts them back.

Rows are inserted however late their instant already is: the firer, which knows
REMINDER_GRACE_MINUTES, emits a late one or skips it. The backfill below only schedules
instants at most an hour (the default grace) in the past.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# remind_at: an offset's seconds are exact (a day is 24 hours whatever the session's time
# zone), as in GET /reminders (app/reminders/service.py); `due_at - 'P1D'::interval` would
# follow the session zone's calendar across a DST change.
_SCHEDULE = """
CREATE FUNCTION tasks_reminder_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM reminder_schedule AS s
        WHERE s.task_id = NEW.id AND s.fired_at IS NULL
          AND (NEW.deleted_at IS NOT NULL OR NEW.completed OR NEW.due_at IS NULL
               OR s.due_at <> NEW.due_at OR NOT s.reminder_offset = ANY (NEW.reminders));
    END IF;
    IF NEW.deleted_at IS NULL AND NOT NEW.completed AND NEW.due_at IS NOT NULL THEN
        INSERT INTO reminder_schedule (task_id, reminder_offset, due_at, owner_id, remind_at)
        SELECT NEW.id, r, NEW.due_at, NEW.owner_id,
               NEW.due_at - make_interval(secs => extract(epoch FROM r::interval))
        FROM unnest(NEW.reminders) AS r
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$
"""

_ON_INSERT = """
CREATE TRIGGER tasks_reminder_schedule_insert AFTER INSERT ON tasks FOR EACH ROW
WHEN (NEW.reminders <> '{}'::text[] AND NEW.due_at IS NOT NULL
      AND NEW.deleted_at IS NULL AND NOT NEW.completed)
EXECUTE FUNCTION tasks_reminder_schedule()
"""

_ON_UPDATE = """
CREATE TRIGGER tasks_reminder_schedule_update
AFTER UPDATE OF due_at, reminders, completed, deleted_at ON tasks FOR EACH ROW
WHEN ((OLD.reminders <> '{}'::text[] OR NEW.reminders <> '{}'::text[])
      AND (OLD.due_at, OLD.reminders, OLD.completed, OLD.deleted_at)
          IS DISTINCT FROM (NEW.due_at, NEW.reminders, NEW.completed, NEW.deleted_at))
EXECUTE FUNCTION tasks_reminder_schedule()
"""

_BACKFILL = """
INSERT INTO reminder_schedule (task_id, reminder_offset, due_at, owner_id, remind_at)
SELECT * FROM (
    SELECT t.id, r, t.due_at, t.owner_id,
           t.due_at - make_interval(secs => extract(epoch FROM r::interval)) AS at
    FROM tasks AS t CROSS JOIN LATERAL unnest(t.reminders) AS r
    WHERE t.deleted_at IS NULL AND NOT t.completed AND t.due_at IS NOT NULL
      AND t.reminders <> '{}'::text[] AND t.due_at >= now() - interval '1 hour'
) AS instants
WHERE at >= now() - interval '1 hour'
"""


def upgrade() -> None:
    op.create_table(
        "reminder_schedule",
        sa.Column(
            "task_id",
            sa.Uuid(),
            sa.ForeignKey("tasks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("reminder_offset", sa.Text(), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emitted", sa.Boolean(), nullable=True),
    )
    op.create_index(
        "ix_reminder_schedule_due",
        "reminder_schedule",
        ["remind_at"],
        postgresql_where=sa.text("fired_at IS NULL"),
    )
    op.create_index(
        "ix_reminder_schedule_fired",
        "reminder_schedule",
        ["fired_at"],
        postgresql_where=sa.text("fired_at IS NOT NULL"),
    )
    op.execute(_SCHEDULE)
    op.execute(_ON_INSERT)
    op.execute(_ON_UPDATE)
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER tasks_reminder_schedule_update ON tasks")
    op.execute("DROP TRIGGER tasks_reminder_schedule_insert ON tasks")
    op.execute("DROP FUNCTION tasks_reminder_schedule()")
    op.drop_index("ix_reminder_schedule_fired", table_name="reminder_schedule")
    op.drop_index("ix_reminder_schedule_due", table_name="reminder_schedule")
    op.drop_table("reminder_schedule")
