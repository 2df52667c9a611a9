"""The reminder schedule: one row per reminder instant of a task (its due date minus one of
its offsets), kept by triggers on `tasks` (migration 0009) and fired by app/reminders/firing.py.

A row stays once handled, so that a (task, offset, due date) fires at most once even if the
due date moves away and back; the retention sweep removes handled rows later.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ReminderInstant(SQLModel, table=True):
    __tablename__ = "reminder_schedule"

    # Removing a task for good (or erasing its owner) removes its schedule with it.
    task_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
        )
    )
    # The offset as the task stores it (normalised ISO 8601, e.g. PT15M).
    reminder_offset: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), primary_key=True))
    # The task's owner, copied so that the firer locks owners without reading tasks first.
    owner_id: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    remind_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # When a firer handled it; NULL while it is still to come.
    fired_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    # Whether that emitted a `reminder.due` event (false: it was too late, and skipped).
    emitted: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean, nullable=True))


_columns = ReminderInstant.__table__.c  # type: ignore[attr-defined]
# The firer's question every round: what is due and not yet handled.
sa.Index(
    "ix_reminder_schedule_due",
    _columns.remind_at,
    postgresql_where=sa.text("fired_at IS NULL"),
)
# The retention sweep: handled rows, oldest first.
sa.Index(
    "ix_reminder_schedule_fired",
    _columns.fired_at,
    postgresql_where=sa.text("fired_at IS NOT NULL"),
)
