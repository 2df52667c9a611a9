import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from app.tasks.fields import (
    DESCRIPTION_MAX_LENGTH,
    LIVE_ROWS,
    SEARCH_KEYS,
    TITLE_MAX_LENGTH,
)


def _timestamp_column() -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


class Task(SQLModel, table=True):
    """A task belongs to exactly one user; every query on it is scoped by `owner_id`."""

    __tablename__ = "tasks"

    id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))
    )
    owner_id: str = Field(
        sa_column=sa.Column(
            sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    title: str = Field(max_length=TITLE_MAX_LENGTH)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    completed: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false(), "nullable": False}
    )
    created_at: datetime = Field(sa_column=_timestamp_column())
    updated_at: datetime = Field(sa_column=_timestamp_column())
    # Index into PRIORITIES.
    priority: int = Field(
        default=0,
        sa_column=sa.Column(
            sa.SmallInteger,
            sa.CheckConstraint("priority BETWEEN 0 AND 3", name="ck_tasks_priority"),
            nullable=False,
            server_default=sa.text("0"),
        ),
    )
    due_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    # Normalised (trimmed, lowercase, unique) before they are stored.
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(
            sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
    )
    completed_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    # +1 on every change; the task's ETag.
    version: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("1"))
    )
    # Set when the task is moved to the trash; every other route ignores such a task.
    deleted_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    # The owner's change counter (users.change_seq) at this task's latest change.
    change_seq: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )
    # Repetition (app/tasks/recurrence.py): the RRULE as given, and the zone it repeats in.
    recurrence: str | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Text,
            sa.CheckConstraint(
                "recurrence IS NULL OR due_at IS NOT NULL", name="ck_tasks_recurrence_due"
            ),
            nullable=True,
        ),
    )
    time_zone: str = Field(
        default="UTC",
        sa_column=sa.Column(sa.Text, nullable=False, server_default=sa.text("'UTC'")),
    )
    # Normalised ISO 8601 offsets before due_at, shortest first.
    reminders: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(
            sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
    )
    # The first task of the series (its own id for that one); stays once set.
    series_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, nullable=True))
    # This occurrence's number in its series (the first is 1): COUNT counts these.
    occurrence: int = Field(
        default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("1"))
    )
    # The occurrence created when this one was completed; set once, never cleared, so that
    # an occurrence creates at most one next one. No foreign key: it stays set when that
    # task is removed for good.
    next_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, nullable=True))
    # Kept by PostgreSQL from owner, title, description and tags; only ever searched.
    search_keys: str | None = Field(
        default=None,
        sa_column=sa.Column(TSVECTOR, sa.Computed(SEARCH_KEYS, persisted=True)),
    )


_columns = Task.__table__.c  # type: ignore[attr-defined]
_TRASHED = sa.text("deleted_at IS NOT NULL")

# Serves the list (one owner, newest first, ties by id) straight from the index, no sort.
sa.Index(
    "ix_tasks_owner_created",
    _columns.owner_id,
    _columns.created_at.desc(),
    _columns.id.desc(),
    postgresql_where=sa.text(LIVE_ROWS),
)

# The list's filters and sorts (docs/performance.md explains the choice). Like the one above,
# they lead with the owner and leave out the trash.
sa.Index(
    "ix_tasks_search_keys",
    _columns.search_keys,
    postgresql_using="gin",
    postgresql_where=sa.text(LIVE_ROWS),
)
sa.Index(
    "ix_tasks_owner_due",
    _columns.owner_id,
    _columns.due_at,
    _columns.id,
    postgresql_where=sa.text(LIVE_ROWS),
)
sa.Index(
    "ix_tasks_owner_title",
    _columns.owner_id,
    sa.func.lower(_columns.title),
    _columns.id,
    postgresql_where=sa.text(LIVE_ROWS),
)
# The change feed: one owner's live tasks in change order, from where the client left off.
# Its predicate holds for every row (change numbers start at 0); it is there so that only
# queries that say `change_seq >= 0` (the feed's) can use this index. Otherwise, on small
# accounts, the planner sometimes reads the list's page from it and sorts, instead of
# reading ix_tasks_owner_created in order. Live tasks only, like the list indexes (the feed
# reads live tasks here and removals from the tombstones): otherwise the planner prefers the
# smaller partial list indexes for the feed too.
sa.Index(
    "ix_tasks_owner_change",
    _columns.owner_id,
    _columns.change_seq,
    _columns.id,
    postgresql_where=sa.text(f"{LIVE_ROWS} AND change_seq >= 0"),
)
# `series_id=` of the list: the occurrences of one series.
sa.Index(
    "ix_tasks_owner_series",
    _columns.owner_id,
    _columns.series_id,
    postgresql_where=sa.text(f"{LIVE_ROWS} AND series_id IS NOT NULL"),
)
# GET /reminders: open live tasks with reminders, by due date. Every reminder is at most 28
# days before its due date, so a window of reminders is a range of due dates in this index.
sa.Index(
    "ix_tasks_owner_reminders",
    _columns.owner_id,
    _columns.due_at,
    postgresql_where=sa.text(f"{LIVE_ROWS} AND NOT completed AND reminders <> '{{}}'::text[]"),
)
# The trash (newest deletion first) and its retention sweep; both hold trashed rows only.
sa.Index(
    "ix_tasks_owner_trash",
    _columns.owner_id,
    _columns.deleted_at.desc(),
    _columns.id.desc(),
    postgresql_where=_TRASHED,
)
sa.Index("ix_tasks_trash_expiry", _columns.deleted_at, postgresql_where=_TRASHED)
