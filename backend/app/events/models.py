"""The outbox and the registry of open event streams (migration 0007 also creates the
trigger on `tasks` that fills the outbox, in the statement of every change)."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Event(SQLModel, table=True):
    """One change to a task (or a reminder that fired), written in the transaction of the
    change. Per owner, ids grow in the order the changes commit: every writer holds the
    owner's row lock from the moment its event is numbered until it commits."""

    __tablename__ = "events"

    id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    owner_id: str = Field(
        sa_column=sa.Column(
            sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    task_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    # The owner's change number at this event: the change feed cursor's position.
    change_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # The task as the API answers it at this change ({"id"} for task.purged). `json`, not
    # `jsonb`: kept as written (the API's key order), and sent on without being parsed.
    data: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        )
    )


_events = Event.__table__  # type: ignore[attr-defined]
# Replay and live reads: one owner's events after an id.
sa.Index("ix_events_owner_id", _events.c.owner_id, _events.c.id)
# `?since=<cursor>`: one owner's events after a change number.
sa.Index("ix_events_owner_change", _events.c.owner_id, _events.c.change_seq)
# The retention sweep.
sa.Index("ix_events_created_at", _events.c.created_at)


class EventStream(SQLModel, table=True):
    """An open SSE stream, held by some instance: it bounds streams per user across every
    instance, and tells the outbox trigger whose changes need a NOTIFY. The holder renews
    `expires_at`; a row whose holder died expires and the sweep removes it."""

    __tablename__ = "event_streams"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    owner_id: str = Field(
        sa_column=sa.Column(
            sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


sa.Index(
    "ix_event_streams_owner",
    EventStream.__table__.c.owner_id,  # type: ignore[attr-defined]
)
