"""Task search and the list's filter and sort indexes.

`search_keys`, a stored tsvector of per-owner keys: every word of title and description (as
PostgreSQL's 'simple' configuration splits them) and every tag, each prefixed with the owner,
with a GIN index; btree indexes on (owner, due_at) and (owner, lower(title)); and the default
list's (owner, created_at) and the change feed's (owner, change_seq) indexes become partial
like them (live tasks only).
docs/performance.md explains the choice.

Adding the stored column rewrites the table once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_ROWS = sa.text("deleted_at IS NULL")

# A key is "<length of owner>:<owner> w <word>" or "... t <tag>": the length makes the owner
# part unambiguous, so no key of one user is a prefix of another user's (the list query also
# filters by owner; the keys only make the index read one user's entries). app/tasks/listing.py
# builds its tsquery from the same keys. A key over tsvector's 2046-byte limit (a very long
# word with a very long owner id) is left out rather than failing the write.
SEARCH_KEYS_FUNCTION = r"""
CREATE FUNCTION task_search_keys(owner text, title text, description text, tags text[])
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT array_to_tsvector(ARRAY(
    SELECT key FROM (
        SELECT length(owner) || ':' || owner || ' w ' || word.lexeme AS key
        FROM unnest(to_tsvector('simple', title || ' ' || coalesce(description, ''))) AS word
        UNION
        SELECT length(owner) || ':' || owner || ' t ' || tag FROM unnest(tags) AS tag
    ) AS keys
    WHERE octet_length(key) <= 2046
))
$$
"""


def _created_index(*, live_only: bool) -> None:
    op.create_index(
        "ix_tasks_owner_created",
        "tasks",
        ["owner_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        postgresql_where=LIVE_ROWS if live_only else None,
    )


def _change_index(*, live_only: bool) -> None:
    op.drop_index("ix_tasks_owner_change", table_name="tasks")
    predicate = "deleted_at IS NULL AND change_seq >= 0" if live_only else "change_seq >= 0"
    op.create_index(
        "ix_tasks_owner_change",
        "tasks",
        ["owner_id", "change_seq", "id"],
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    op.execute(SEARCH_KEYS_FUNCTION)
    op.add_column(
        "tasks",
        sa.Column(
            "search_keys",
            TSVECTOR(),
            sa.Computed("task_search_keys(owner_id, title, description, tags)", persisted=True),
        ),
    )
    op.create_index(
        "ix_tasks_search_keys",
        "tasks",
        ["search_keys"],
        postgresql_using="gin",
        postgresql_where=LIVE_ROWS,
    )
    # A partial index is smaller, so the planner would otherwise prefer any of the new ones
    # for a user's live tasks; the default list's leaves the trash out like them.
    op.drop_index("ix_tasks_owner_created", table_name="tasks")
    _created_index(live_only=True)
    op.create_index(
        "ix_tasks_owner_due", "tasks", ["owner_id", "due_at", "id"], postgresql_where=LIVE_ROWS
    )
    # The change feed's index leaves the trash out too (the feed reads live tasks only), or
    # the planner prefers the smaller partial list indexes for the feed.
    _change_index(live_only=True)
    op.create_index(
        "ix_tasks_owner_title",
        "tasks",
        ["owner_id", sa.text("lower((title)::text)"), "id"],
        postgresql_where=LIVE_ROWS,
    )


def downgrade() -> None:
    _change_index(live_only=False)
    op.drop_index("ix_tasks_owner_title", table_name="tasks")
    op.drop_index("ix_tasks_owner_due", table_name="tasks")
    op.drop_index("ix_tasks_owner_created", table_name="tasks")
    _created_index(live_only=False)
    op.drop_index("ix_tasks_search_keys", table_name="tasks")
    op.drop_column("tasks", "search_keys")
    op.execute("DROP FUNCTION task_search_keys(text, text, text, text[])")
