import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Tombstone(SQLModel, table=True):
    """The record that a task left the live set (trashed, then perhaps removed for good),
    kept TOMBSTONE_RETENTION_DAYS so that the change feed can tell clients to drop it.

    No foreign key to tasks: a tombstone outlives its task when the trash is emptied. A
    restore deletes it, since the task is then back in the feed with a newer change number.
    """

    __tablename__ = "tombstones"

    owner_id: str = Field(
        sa_column=sa.Column(
            sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    task_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    # The owner's change number of the trashing: the feed's order.
    change_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # When the task was trashed; the retention period counts from here.
    deleted_at: datetime = Field(
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        )
    )


_table = Tombstone.__table__  # type: ignore[attr-defined]
# The feed reads one owner's tombstones in change order, from where the client left off.
sa.Index("ix_tombstones_owner_change", _table.c.owner_id, _table.c.change_seq, _table.c.task_id)
# The retention sweep finds expired tombstones of every owner.
sa.Index("ix_tombstones_deleted_at", _table.c.deleted_at)
