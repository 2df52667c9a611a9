from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.users.fields import EMAIL_MAX_LENGTH, USER_ID_MAX_LENGTH


class User(SQLModel, table=True):
    """A person known to the backend since the first valid token carrying their `sub`.

    The table is `users`: `user` is reserved in PostgreSQL and is Better Auth's own table.
    """

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=USER_ID_MAX_LENGTH)
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH)
    # Bumped, under this row's lock, by every change to one of the user's tasks: a user's
    # changes are therefore numbered in the order they commit (what the change feed needs).
    change_seq: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )
    # The highest change number whose tombstone the retention sweep has deleted: a feed
    # cursor below it may have missed a deletion, so it is expired.
    purged_change_seq: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default=sa.text("0"))
    )
    created_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        )
    )
