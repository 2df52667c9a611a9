"""Trash, tombstones and the change feed.

The tombstones table (a task's removal from the live set, kept for the change feed),
users.purged_change_seq (how far the tombstone sweep has deleted), and the indexes of the
feed (live tasks in change order) and of the trash (per owner, and by age for the sweep).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id", "task_id"),
    )
    op.create_index(
        "ix_tombstones_owner_change", "tombstones", ["owner_id", "change_seq", "task_id"]
    )
    op.create_index("ix_tombstones_deleted_at", "tombstones", ["deleted_at"])
    op.add_column(
        "users",
        sa.Column("purged_change_seq", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_tasks_owner_change",
        "tasks",
        ["owner_id", "change_seq", "id"],
        postgresql_where=sa.text("change_seq >= 0"),
    )
    op.create_index(
        "ix_tasks_owner_trash",
        "tasks",
        ["owner_id", sa.text("deleted_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tasks_trash_expiry",
        "tasks",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    # Tasks trashed before this revision (none through the API, which deleted for good) get
    # their tombstone, so that every trashed task has one.
    op.execute(
        """
        INSERT INTO tombstones (owner_id, task_id, change_seq, deleted_at)
        SELECT owner_id, id, change_seq, deleted_at FROM tasks WHERE deleted_at IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_trash_expiry", table_name="tasks")
    op.drop_index("ix_tasks_owner_trash", table_name="tasks")
    op.drop_index("ix_tasks_owner_change", table_name="tasks")
    op.drop_column("users", "purged_change_seq")
    op.drop_index("ix_tombstones_deleted_at", table_name="tombstones")
    op.drop_index("ix_tombstones_owner_change", table_name="tombstones")
    op.drop_table("tombstones")
