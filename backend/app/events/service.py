"""The event outbox as the outlets read it, and the registry of open streams.

Events are written by the trigger on `tasks` (migration 0007), in the statement of every
change: this module only reads them, in per-owner id order. That order is the order the
changes committed: every writer numbers its event while holding the owner's row lock, and
keeps the lock until it commits. A reader that has every event of an owner up to id N
therefore needs exactly the owner's events above N.
"""

import uuid
from dataclasses import dataclass

import asyncpg
import orjson

from app.core.database import Database, PooledConnection, Queries
from app.core.errors import ApiError
from app.events.fields import EVENT_ID_PREFIX, REMINDER_DUE
from app.sync.cursor import Cursor, decode, encode, epoch_of
from app.tasks.service import provision_owner

# Events read per query while catching a stream up.
PAGE_SIZE = 500

_EVENTS_AFTER = """
SELECT e.id, e.type, e.created_at, e.change_seq, e.data::text AS data,
       u.created_at AS account_created
FROM events AS e JOIN users AS u ON u.id = e.owner_id
WHERE e.owner_id = $1 AND e.id > $2
ORDER BY e.id
LIMIT $3
"""

# Taken under the owner's row lock: writes of this owner still in flight commit first (their
# events are at or below the id read here), and the ones after see the new stream row, so
# their trigger NOTIFYs. The streams counted are those of every instance.
_LOCK_OWNER = "SELECT created_at, change_seq FROM users WHERE id = $1 FOR UPDATE"
_LIVE_STREAMS = "SELECT count(*) FROM event_streams WHERE owner_id = $1 AND expires_at > now()"
_ADD_STREAM = """
INSERT INTO event_streams (id, owner_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
_LAST_EVENT = "SELECT COALESCE(max(id), 0) FROM events WHERE owner_id = $1"
_HAS_EVENT = "SELECT EXISTS (SELECT FROM events WHERE owner_id = $1 AND id = $2)"
# Where a stream resuming after a change number starts: just after that change's own event,
# so the first event sent is the next change's, or a reminder that fired after that change
# (a `reminder.due`, type $3, carries the change number current when it fired, and is
# numbered after that change's event). Complete when the events after it are all still kept:
# the next change's is (every change has an event with its own number). A reminder that
# fired at the given change and is no longer kept is not sent, like any event past the
# retention.
_BEFORE_CHANGE = """
SELECT COALESCE((SELECT min(id) - 1 FROM events
                 WHERE owner_id = $1 AND change_seq >= $2
                   AND (change_seq > $2 OR type = $3)),
                (SELECT max(id) FROM events WHERE owner_id = $1), 0) AS after_id,
       $2 >= (SELECT change_seq FROM users WHERE id = $1)
       OR EXISTS (SELECT FROM events
                  WHERE owner_id = $1 AND change_seq = $2 + 1 AND type <> $3)
       AS complete
"""
_REMOVE_STREAM = "DELETE FROM event_streams WHERE id = $1"
_RENEW_STREAMS = """
UPDATE event_streams SET expires_at = now() + make_interval(secs => $2) WHERE id = ANY($1)
"""
_PURGE_EXPIRED_STREAMS = """
DELETE FROM event_streams WHERE id IN (
    SELECT id FROM event_streams WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED
)
"""
_PURGE_EXPIRED_EVENTS = """
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE created_at < now() - make_interval(hours => $1)
    ORDER BY created_at LIMIT $2
)
"""


class TooManyStreams(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            429,
            "too_many_streams",
            f"At most {limit} event streams may be open per user; close one first.",
            {"Retry-After": "5"},
        )


class InvalidLastEventId(ApiError):
    def __init__(self) -> None:
        super().__init__(
            422, "invalid_event_id", "`Last-Event-ID` is not an event id this API issued."
        )


@dataclass(frozen=True, slots=True)
class StreamStart:
    stream_id: uuid.UUID
    # Replay every event of the owner after this id.
    after_id: int
    # The resume point was too old (or of an erased account): the client must sync again.
    reset: bool


def event_id(number: int) -> str:
    return f"{EVENT_ID_PREFIX}{number}"


def parse_event_id(text: str) -> int:
    digits = text.removeprefix(EVENT_ID_PREFIX)
    if digits == text or not digits.isdigit() or len(digits) > 18:
        raise InvalidLastEventId()
    return int(digits)


def event_json(row: asyncpg.Record) -> bytes:
    """The event as outlets send it; `data` is spliced in as stored, never parsed."""
    head = orjson.dumps(
        {
            "id": event_id(row["id"]),
            "type": row["type"],
            "timestamp": row["created_at"],
            "cursor": encode(Cursor(epoch_of(row["account_created"]), row["change_seq"])),
        },
        option=orjson.OPT_UTC_Z,
    )
    data: str = row["data"]
    return head[:-1] + b',"data":' + data.encode() + b"}"


async def open_stream(
    db: Database,
    owner_id: str,
    *,
    last_event_id: str | None,
    since: str | None,
    max_streams: int,
    lease_seconds: float,
) -> StreamStart:
    """Register a stream of `owner_id` (TooManyStreams past `max_streams`, all instances
    counted) and find where it starts: after `last_event_id`, or after the change-feed
    cursor `since`, or (neither given, or too old: `reset`) at the owner's latest event."""
    after: int | None = parse_event_id(last_event_id) if last_event_id else None
    cursor: Cursor | None = decode(since) if since and after is None else None
    stream_id = uuid.uuid4()

    async def register(conn: PooledConnection) -> StreamStart:
        raw = conn.raw
        async with raw.transaction():
            owner = await raw.fetchrow(_LOCK_OWNER, owner_id)
            if owner is None:
                # Erased since this process provisioned it: a new, empty account.
                await provision_owner(raw, owner_id)
                owner = await raw.fetchrow(_LOCK_OWNER, owner_id)
                assert owner is not None
            if await raw.fetchval(_LIVE_STREAMS, owner_id) >= max_streams:
                raise TooManyStreams(max_streams)
            await raw.execute(_ADD_STREAM, stream_id, owner_id, lease_seconds)
            latest: int = await raw.fetchval(_LAST_EVENT, owner_id)
            if after is not None:
                if after == latest or (
                    after < latest and await raw.fetchval(_HAS_EVENT, owner_id, after)
                ):
                    return StreamStart(stream_id, after, reset=False)
                return StreamStart(stream_id, latest, reset=True)
            if cursor is not None:
                if cursor.epoch != epoch_of(owner["created_at"]):
                    return StreamStart(stream_id, latest, reset=True)
                found = await raw.fetchrow(_BEFORE_CHANGE, owner_id, cursor.seq, REMINDER_DUE)
                assert found is not None
                if found["complete"]:
                    return StreamStart(stream_id, found["after_id"], reset=False)
                return StreamStart(stream_id, latest, reset=True)
            return StreamStart(stream_id, latest, reset=False)

    return await db.run(register)


async def close_stream(db: Database, stream_id: uuid.UUID) -> None:
    async with db.connection() as conn:
        await conn.execute(_REMOVE_STREAM, stream_id)


async def renew_streams(db: Database, stream_ids: list[uuid.UUID], lease_seconds: float) -> None:
    async with db.connection() as conn:
        await conn.execute(_RENEW_STREAMS, stream_ids, lease_seconds)


async def events_after(
    db: Database, owner_id: str, after_id: int, limit: int = PAGE_SIZE
) -> list[asyncpg.Record]:
    async with db.connection() as conn:
        return await conn.fetch(_EVENTS_AFTER, owner_id, after_id, limit)


async def purge_expired_events(
    conn: Queries, retention_hours: int, batch_size: int
) -> tuple[int, bool]:
    """The retention sweep's job: events older than `retention_hours`, oldest first."""
    status = await conn.execute(_PURGE_EXPIRED_EVENTS, retention_hours, batch_size)
    removed = int(status.split()[-1])
    return removed, removed == batch_size


async def purge_expired_streams(conn: Queries, batch_size: int) -> tuple[int, bool]:
    """Stream rows whose instance stopped renewing them (it died)."""
    status = await conn.execute(_PURGE_EXPIRED_STREAMS, batch_size)
    removed = int(status.split()[-1])
    return removed, removed == batch_size
