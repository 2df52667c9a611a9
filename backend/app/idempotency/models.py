from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.idempotency.fields import KEY_MAX_LENGTH


class IdempotencyKey(SQLModel, table=True):
    """The first response to a POST sent with an `Idempotency-Key`, kept for replays.

    A row is only ever committed together with the effects of the request it answers (one
    transaction), so a key is either unknown or has its full response: there is no
    committed "in progress" state that a crashed request could leave behind.
    """

    __tablename__ = "idempotency_keys"

    # Keys are scoped per user; erasing the user erases their keys.
    owner_id: str = Field(
        sa_column=sa.Column(
            sa.String(255),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    key: str = Field(sa_column=sa.Column(sa.String(KEY_MAX_LENGTH), primary_key=True))
    # SHA-256 (hex) of the route and the canonical JSON of the request body.
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status_code: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    # The response headers a replay repeats (Location, ETag).
    headers: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        )
    )
    expires_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)
    )
