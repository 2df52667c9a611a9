"""Webhook endpoints and the record of their delivery attempts (Alembic only; the request
path and the deliverer never import this module)."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.webhooks.fields import DESCRIPTION_MAX_LENGTH, URL_MAX_LENGTH


def _owner() -> sa.Column[str]:
    return sa.Column(sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def _time(nullable: bool = False, default_now: bool = False) -> sa.Column[datetime]:
    return sa.Column(
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if default_now else None,
    )


class Webhook(SQLModel, table=True):
    """An endpoint a user registered, and where its deliveries stand.

    Events reach it from the outbox (`events`) in id order: `last_event_id` is the last event
    delivered or passed over, and the next one of its types after it is sent until it
    succeeds (head of line, so one endpoint sees its events in order). A deliverer claims
    the row with `lease_until` and `lease_token`; if it dies, the lease lapses and any
    instance claims the row again.
    """

    __tablename__ = "webhooks"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    owner_id: str = Field(sa_column=_owner())
    url: str = Field(sa_column=sa.Column(sa.String(URL_MAX_LENGTH), nullable=False))
    description: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(DESCRIPTION_MAX_LENGTH), nullable=True)
    )
    events: list[str] = Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))
    # Needed to sign every delivery, so kept as given (`whsec_...`); shown only when made.
    secret: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    enabled: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))
    last_event_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # Failed attempts at the event at the head of the line.
    attempt: int = Field(
        sa_column=sa.Column(sa.Integer, nullable=False, server_default=sa.text("0"))
    )
    next_attempt_at: datetime = Field(sa_column=_time(default_now=True))
    # The first failure of the current run of failures; null while deliveries succeed.
    failing_since: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    lease_token: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid, nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    disabled_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=_time(default_now=True))
    updated_at: datetime = Field(sa_column=_time(default_now=True))


_webhooks = Webhook.__table__  # type: ignore[attr-defined]
# The owner's list, oldest first.
sa.Index("ix_webhooks_owner", _webhooks.c.owner_id, _webhooks.c.created_at)
# The deliverers' claim: enabled endpoints by when they are next due.
sa.Index(
    "ix_webhooks_due",
    _webhooks.c.next_attempt_at,
    postgresql_where=_webhooks.c.enabled,
)


class WebhookDelivery(SQLModel, table=True):
    """One delivery attempt; the last DELIVERIES_KEPT per endpoint are kept."""

    __tablename__ = "webhook_deliveries"

    id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    webhook_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
        )
    )
    owner_id: str = Field(sa_column=_owner())
    # Not a foreign key: the event may be removed by retention before its attempts are.
    event_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    event_type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attempt: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    status_code: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    duration_ms: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(sa_column=_time(default_now=True))


sa.Index(
    "ix_webhook_deliveries_webhook",
    WebhookDelivery.__table__.c.webhook_id,  # type: ignore[attr-defined]
    WebhookDelivery.__table__.c.id,  # type: ignore[attr-defined]
)
