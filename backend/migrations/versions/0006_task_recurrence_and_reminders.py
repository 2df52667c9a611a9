"""Repeating tasks and reminders: recurrence, time_zone, reminders, series_id, occurrence and
next_id on tasks, with the indexes of the list's `series_id=` and of GET /reminders.

Every new column is nullable or has a constant default, so adding them does not rewrite the
table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("recurrence", sa.Text(), nullable=True))
    op.add_column(
        "tasks",
        sa.Column("time_zone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
    )
    op.add_column(
        "tasks",
        sa.Column(
            "reminders",
            sa.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.add_column("tasks", sa.Column("series_id", sa.Uuid(), nullable=True))
    op.add_column(
        "tasks",
        sa.Column("occurrence", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.add_column("tasks", sa.Column("next_id", sa.Uuid(), nullable=True))
    op.create_check_constraint(
        "ck_tasks_recurrence_due", "tasks", "recurrence IS NULL OR due_at IS NOT NULL"
    )
    op.create_index(
        "ix_tasks_owner_series",
        "tasks",
        ["owner_id", "series_id"],
        postgresql_where=sa.text("deleted_at IS NULL AND series_id IS NOT NULL"),
    )
    op.create_index(
        "ix_tasks_owner_reminders",
        "tasks",
        ["owner_id", "due_at"],
        postgresql_where=sa.text(
            "deleted_at IS NULL AND NOT completed AND reminders <> '{}'::text[]"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_owner_reminders", table_name="tasks")
    op.drop_index("ix_tasks_owner_series", table_name="tasks")
    op.drop_constraint("ck_tasks_recurrence_due", "tasks", type_="check")
    for column in ("next_id", "occurrence", "series_id", "reminders", "time_zone", "recurrence"):
        op.drop_column("tasks", column)
