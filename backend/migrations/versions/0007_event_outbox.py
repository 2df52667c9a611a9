"""The event outbox: `events`, filled by a trigger on `tasks` in the statement of every change
(so an event commits, or rolls back, with its change, and a write needs no extra round trip),
and `event_streams`, the open SSE streams of every instance.

The trigger NOTIFYs the owner's id on the `task_events` channel only when the owner has a
registered stream: PostgreSQL serialises the commits of transactions that sent a NOTIFY,
which writes of owners nobody is watching need not pay for.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Timestamps as the API writes them (orjson, UTC, "Z", microseconds only when there are any).
_API_TIME = """
CREATE FUNCTION api_time(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN ts IS NULL THEN NULL
    WHEN extract(microseconds FROM ts)::bigint % 1000000 = 0
        THEN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    ELSE to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
END
$$
"""

# A task as the API answers it, keys in the API's order (app/tasks/service.py PUBLIC_FIELDS;
# priority by name, app/tasks/fields.py PRIORITIES).
_TASK_JSON = """
CREATE FUNCTION task_event_data(t tasks) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT json_build_object(
    'id', t.id, 'title', t.title, 'description', t.description, 'completed', t.completed,
    'completed_at', api_time(t.completed_at),
    'priority', (ARRAY['none', 'low', 'medium', 'high'])[t.priority + 1],
    'due_at', api_time(t.due_at), 'tags', t.tags, 'recurrence', t.recurrence,
    'time_zone', t.time_zone, 'reminders', t.reminders, 'series_id', t.series_id,
    'next_id', t.next_id, 'version', t.version, 'owner_id', t.owner_id,
    'created_at', api_time(t.created_at), 'updated_at', api_time(t.updated_at)
)
$$
"""

# Every change to a task advances its change_seq (app/tasks/service.py); an UPDATE that does
# not is no change and emits nothing. A purge is numbered under the owner's row lock, as
# every other writer's event is, so that one owner's event ids commit in increasing order;
# when the owner row is gone (the account is being erased) nothing is emitted.
_OUTBOX = """
CREATE FUNCTION tasks_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    owner text;
    seq bigint;
    task uuid;
    body json;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := 'task.created';
        owner := NEW.owner_id; seq := NEW.change_seq; task := NEW.id;
        body := task_event_data(NEW);
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.change_seq = OLD.change_seq THEN
            RETURN NULL;
        END IF;
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
            kind := 'task.deleted';
        ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
            kind := 'task.restored';
        ELSE
            kind := 'task.updated';
        END IF;
        owner := NEW.owner_id; seq := NEW.change_seq; task := NEW.id;
        body := task_event_data(NEW);
    ELSE
        owner := OLD.owner_id; task := OLD.id;
        SELECT change_seq INTO seq FROM users WHERE id = owner FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        kind := 'task.purged';
        body := json_build_object('id', OLD.id);
    END IF;
    INSERT INTO events (owner_id, type, task_id, change_seq, data)
    VALUES (owner, kind, task, seq, body);
    IF EXISTS (SELECT FROM event_streams WHERE owner_id = owner) THEN
        PERFORM pg_notify('task_events', owner);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(255),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index("ix_events_owner_id", "events", ["owner_id", "id"])
    op.create_index("ix_events_owner_change", "events", ["owner_id", "change_seq"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "event_streams",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "owner_id",
            sa.String(255),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_event_streams_owner", "event_streams", ["owner_id"])
    op.execute(_API_TIME)
    op.execute(_TASK_JSON)
    op.execute(_OUTBOX)
    op.execute(
        "CREATE TRIGGER tasks_outbox AFTER INSERT OR UPDATE OR DELETE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION tasks_outbox()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tasks_outbox ON tasks")
    op.execute("DROP FUNCTION tasks_outbox()")
    op.execute("DROP FUNCTION task_event_data(tasks)")
    op.execute("DROP FUNCTION api_time(timestamptz)")
    op.drop_index("ix_event_streams_owner", table_name="event_streams")
    op.drop_table("event_streams")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_index("ix_events_owner_change", table_name="events")
    op.drop_index("ix_events_owner_id", table_name="events")
    op.drop_table("events")
