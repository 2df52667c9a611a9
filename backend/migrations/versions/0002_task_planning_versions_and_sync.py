"""Task fields for planning, versions and sync.

priority, due_at, tags and completed_at (planning); version (ETags); deleted_at (trash);
change_seq on tasks and users (the change feed's per-user sequence). Existing rows get the
defaults; completed tasks get completed_at = updated_at, and every task a change number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "tasks",
        sa.Column(
            "priority",
            sa.SmallInteger(),
            sa.CheckConstraint("priority BETWEEN 0 AND 3", name="ck_tasks_priority"),
            server_default=sa.text("0"),
            nullable=False,
        ),
    )
    op.add_column("tasks", _timestamp("due_at"))
    op.add_column(
        "tasks",
        sa.Column(
            "tags", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
    )
    op.add_column("tasks", _timestamp("completed_at"))
    op.add_column(
        "tasks", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.add_column("tasks", _timestamp("deleted_at"))
    op.add_column(
        "tasks",
        sa.Column("change_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")
    op.execute(
        """
        UPDATE tasks SET change_seq = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY owner_id ORDER BY created_at, id) AS n
              FROM tasks) AS numbered
        WHERE tasks.id = numbered.id
        """
    )
    op.execute(
        """
        UPDATE users SET change_seq = counts.n
        FROM (SELECT owner_id, count(*) AS n FROM tasks GROUP BY owner_id) AS counts
        WHERE users.id = counts.owner_id
        """
    )


def downgrade() -> None:
    for column in ("change_seq", "deleted_at", "version", "completed_at", "tags", "due_at"):
        op.drop_column("tasks", column)
    op.drop_column("tasks", "priority")
    op.drop_column("users", "change_seq")
