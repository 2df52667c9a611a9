"""Webhook endpoints (registration, changes, the record of attempts) and the deliverers'
claims and outcomes. Every statement on a user's endpoints is scoped by owner; another
user's endpoint is answered exactly like a missing one.

An endpoint's cursor (`last_event_id`) starts at the owner's latest event when it is
registered, read under the owner's row lock: writes of the owner still in flight commit
first, and every later event has a greater id (events are numbered under that lock, see
app/events/service.py). Deliverers then read the outbox after the cursor; nothing is added
to the task write path.
"""

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.core.database import Database, PooledConnection
from app.core.errors import ApiError
from app.events.service import event_id
from app.tasks.service import provision_owner
from app.webhooks.destinations import (
    DestinationNotAllowed,
    InvalidWebhookUrl,
    check_destination,
)
from app.webhooks.fields import (
    DELIVERIES_KEPT,
    MAX_WEBHOOKS_PER_USER,
    SECRET_BYTES,
    SECRET_PREFIX,
)

_PUBLIC = (
    "id, url, description, events, enabled, last_event_id, failing_since, next_attempt_at, "
    "disabled_at, disabled_reason, created_at, updated_at"
)
_LOCK_OWNER = "SELECT created_at FROM users WHERE id = $1 FOR UPDATE"
_COUNT = "SELECT count(*) FROM webhooks WHERE owner_id = $1"
_LAST_EVENT = "SELECT COALESCE(max(id), 0) FROM events WHERE owner_id = $1"
_INSERT = f"""
INSERT INTO webhooks (id, owner_id, url, description, events, secret, last_event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {_PUBLIC}
"""
_LIST = f"SELECT {_PUBLIC} FROM webhooks WHERE owner_id = $1 ORDER BY created_at, id"
_GET = f"SELECT {_PUBLIC} FROM webhooks WHERE id = $1 AND owner_id = $2"
_GET_FOR_UPDATE = f"""
SELECT {_PUBLIC} FROM webhooks WHERE id = $1 AND owner_id = $2 FOR UPDATE
"""
# Changing the types: events before now that the old types did not select are passed over
# (the cursor moves to just before the first pending event of the old types, or to the
# owner's latest event). Without it, an endpoint that never matched would be sent events
# of the new types from as far back as its cursor.
_CURSOR_FOR_NEW_TYPES = """
SELECT GREATEST($3::bigint, COALESCE(
    (SELECT min(id) - 1 FROM events WHERE owner_id = $1 AND id > $3 AND type = ANY ($2)),
    (SELECT max(id) FROM events WHERE owner_id = $1),
    $3))
"""
_UPDATE = f"""
UPDATE webhooks SET url = $3, description = $4, events = $5, enabled = $6,
    last_event_id = $7, updated_at = now(),
    attempt = CASE WHEN $8 THEN 0 ELSE attempt END,
    failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END,
    next_attempt_at = CASE WHEN $8 THEN now() ELSE next_attempt_at END,
    disabled_at = CASE WHEN $6 THEN NULL WHEN enabled THEN now() ELSE disabled_at END,
    disabled_reason = CASE WHEN $6 THEN NULL WHEN enabled THEN $9 ELSE disabled_reason END
WHERE id = $1 AND owner_id = $2
RETURNING {_PUBLIC}
"""
_DELETE = "DELETE FROM webhooks WHERE id = $1 AND owner_id = $2"
_ROTATE = f"""
UPDATE webhooks SET secret = $3, updated_at = now() WHERE id = $1 AND owner_id = $2
RETURNING {_PUBLIC}
"""
_DELIVERIES = """
SELECT id, event_id, event_type, attempt, status_code, error, duration_ms, created_at
FROM webhook_deliveries WHERE webhook_id = $1 AND owner_id = $2
ORDER BY id DESC LIMIT $3
"""
_EXISTS = "SELECT EXISTS (SELECT FROM webhooks WHERE id = $1 AND owner_id = $2)"

DISABLED_BY_REQUEST = "Disabled through the API."


class WebhookNotFound(ApiError):
    def __init__(self) -> None:
        # The same answer whether the endpoint does not exist or belongs to someone else.
        super().__init__(404, "webhook_not_found", "Webhook not found.")


class TooManyWebhooks(ApiError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "too_many_webhooks",
            f"At most {MAX_WEBHOOKS_PER_USER} webhooks may be registered per user; "
            "delete one first.",
        )


class InvalidUrl(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(422, "invalid_webhook_url", f"Invalid webhook URL: {reason}.")


class UrlNotAllowed(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            422,
            "webhook_url_not_allowed",
            f"Webhooks may only be delivered to public addresses: {reason}.",
        )


@dataclass(frozen=True, slots=True)
class UrlRules:
    allow_http: bool
    allow_private: bool


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_json(row: asyncpg.Record) -> dict[str, Any]:
    failing = row["failing_since"] is not None and row["enabled"]
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "events": list(row["events"]),
        "enabled": row["enabled"],
        "last_event_id": event_id(row["last_event_id"]),
        "failing_since": row["failing_since"],
        "next_attempt_at": row["next_attempt_at"] if failing else None,
        "disabled_at": row["disabled_at"],
        "disabled_reason": row["disabled_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def _check_url(url: str, rules: UrlRules) -> None:
    try:
        await check_destination(url, allow_http=rules.allow_http, allow_private=rules.allow_private)
    except InvalidWebhookUrl as exc:
        raise InvalidUrl(str(exc)) from None
    except DestinationNotAllowed as exc:
        raise UrlNotAllowed(str(exc)) from None


async def create_webhook(
    db: Database,
    owner_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str | None,
    rules: UrlRules,
) -> dict[str, Any]:
    """Register an endpoint (the caller's 11th is TooManyWebhooks); the answer carries its
    secret, which is never shown again."""
    await _check_url(url, rules)
    secret = new_secret()

    async def register(conn: PooledConnection) -> asyncpg.Record:
        raw = conn.raw
        async with raw.transaction():
            # The owner's lock also serialises concurrent registrations against the limit.
            if await raw.fetchrow(_LOCK_OWNER, owner_id) is None:
                # Erased since this process provisioned it: a new, empty account.
                await provision_owner(raw, owner_id)
                await raw.fetchrow(_LOCK_OWNER, owner_id)
            if await raw.fetchval(_COUNT, owner_id) >= MAX_WEBHOOKS_PER_USER:
                raise TooManyWebhooks()
            latest = await raw.fetchval(_LAST_EVENT, owner_id)
            row = await raw.fetchrow(
                _INSERT, uuid.uuid4(), owner_id, url, description, list(events), secret, latest
            )
            assert row is not None
            return row

    row = await db.run(register)
    return {**webhook_json(row), "secret": secret}


async def list_webhooks(db: Database, owner_id: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        rows = await conn.fetch(_LIST, owner_id)
    return [webhook_json(row) for row in rows]


async def get_webhook(db: Database, owner_id: str, webhook_id: uuid.UUID) -> dict[str, Any]:
    async with db.connection() as conn:
        row = await conn.fetchrow(_GET, webhook_id, owner_id)
    if row is None:
        raise WebhookNotFound()
    return webhook_json(row)


async def update_webhook(
    db: Database,
    owner_id: str,
    webhook_id: uuid.UUID,
    changes: dict[str, Any],
    rules: UrlRules,
) -> dict[str, Any]:
    """Change url, events, description or enabled. A new URL, or enabling a disabled
    endpoint, clears its failures: it is tried at once, from its cursor."""
    if "url" in changes:
        await _check_url(changes["url"], rules)

    async def change(conn: PooledConnection) -> asyncpg.Record:
        raw = conn.raw
        async with raw.transaction():
            row = await raw.fetchrow(_GET_FOR_UPDATE, webhook_id, owner_id)
            if row is None:
                raise WebhookNotFound()
            url = changes.get("url", row["url"])
            events = list(changes.get("events", row["events"]))
            enabled = changes.get("enabled", row["enabled"])
            description = changes.get("description", row["description"])
            cursor = row["last_event_id"]
            if set(events) != set(row["events"]):
                cursor = await raw.fetchval(
                    _CURSOR_FOR_NEW_TYPES, owner_id, list(row["events"]), cursor
                )
            fresh_start = url != row["url"] or (enabled and not row["enabled"])
            updated = await raw.fetchrow(
                _UPDATE,
                webhook_id,
                owner_id,
                url,
                description,
                events,
                enabled,
                cursor,
                fresh_start,
                DISABLED_BY_REQUEST,
            )
            assert updated is not None
            return updated

    return webhook_json(await db.run(change))


async def delete_webhook(db: Database, owner_id: str, webhook_id: uuid.UUID) -> None:
    async with db.connection() as conn:
        status = await conn.execute(_DELETE, webhook_id, owner_id)
    if status.split()[-1] == "0":
        raise WebhookNotFound()


async def rotate_secret(db: Database, owner_id: str, webhook_id: uuid.UUID) -> dict[str, Any]:
    """A new secret, in force for every delivery signed from now on; the old one is not."""
    secret = new_secret()
    async with db.connection() as conn:
        row = await conn.fetchrow(_ROTATE, webhook_id, owner_id, secret)
    if row is None:
        raise WebhookNotFound()
    return {**webhook_json(row), "secret": secret}


async def list_deliveries(
    db: Database, owner_id: str, webhook_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The endpoint's recent attempts, newest first (at most DELIVERIES_KEPT)."""
    async with db.connection() as conn:
        if not await conn.fetchval(_EXISTS, webhook_id, owner_id):
            raise WebhookNotFound()
        rows = await conn.fetch(_DELIVERIES, webhook_id, owner_id, DELIVERIES_KEPT)
    return [
        {
            "id": row["id"],
            "event_id": event_id(row["event_id"]),
            "event_type": row["event_type"],
            "attempt": row["attempt"],
            "status_code": row["status_code"],
            "error": row["error"],
            "succeeded": row["status_code"] is not None and 200 <= row["status_code"] < 300,
            "duration_ms": row["duration_ms"],
            "created_at": row["created_at"],
        }
        for row in rows
    ]


# -- the deliverers ----------------------------------------------------------------------

# Endpoints that are enabled, due, not leased, and have an event of their types after their
# cursor: locked without waiting (another instance's claim is skipped), leased, and returned
# with that next event. One statement, so the event read is the one the check saw.
_CLAIM = """
WITH due AS (
    SELECT w.id FROM webhooks AS w
    WHERE w.enabled AND w.next_attempt_at <= now()
      AND (w.lease_until IS NULL OR w.lease_until < now())
      AND EXISTS (
          SELECT FROM events AS e
          WHERE e.owner_id = w.owner_id AND e.id > w.last_event_id AND e.type = ANY (w.events)
      )
    ORDER BY w.next_attempt_at
    LIMIT $1
    FOR UPDATE OF w SKIP LOCKED
), claimed AS (
    UPDATE webhooks AS w
    SET lease_until = now() + make_interval(secs => $2), lease_token = gen_random_uuid()
    FROM due WHERE w.id = due.id
    RETURNING w.id, w.owner_id, w.url, w.secret, w.events, w.last_event_id, w.attempt,
              w.lease_token
)
SELECT c.id AS webhook_id, c.url, c.secret, c.attempt, c.lease_token,
       e.id, e.type, e.created_at, e.change_seq, e.data::text AS data,
       u.created_at AS account_created
FROM claimed AS c
JOIN users AS u ON u.id = c.owner_id
CROSS JOIN LATERAL (
    SELECT e.id, e.type, e.created_at, e.change_seq, e.data FROM events AS e
    WHERE e.owner_id = c.owner_id AND e.id > c.last_event_id AND e.type = ANY (c.events)
    ORDER BY e.id
    LIMIT 1
) AS e
"""
# Outcomes change the endpoint only while the lease is still the claimer's: a deliverer
# that outlived its lease (another instance claimed the endpoint since) records its attempt
# but moves nothing.
_SUCCEEDED = """
UPDATE webhooks SET last_event_id = GREATEST(last_event_id, $3), attempt = 0,
    failing_since = NULL, next_attempt_at = now(), lease_until = NULL, lease_token = NULL
WHERE id = $1 AND lease_token = $2
"""
# The next attempt is `$3` seconds away, but never later than the moment the endpoint has
# been failing for `$4` seconds; the failure of that attempt disables it.
_FAILED = """
UPDATE webhooks SET attempt = attempt + 1,
    failing_since = COALESCE(failing_since, now()),
    next_attempt_at = LEAST(now() + make_interval(secs => $3),
                            COALESCE(failing_since, now()) + make_interval(secs => $4)),
    enabled = enabled AND NOT COALESCE(failing_since <= now() - make_interval(secs => $4), false),
    disabled_at = CASE WHEN enabled AND failing_since <= now() - make_interval(secs => $4)
                       THEN now() ELSE disabled_at END,
    disabled_reason = CASE WHEN enabled AND failing_since <= now() - make_interval(secs => $4)
                           THEN $5 ELSE disabled_reason END,
    lease_until = NULL, lease_token = NULL
WHERE id = $1 AND lease_token = $2
RETURNING enabled
"""
_RECORD_ATTEMPT = """
INSERT INTO webhook_deliveries
    (webhook_id, owner_id, event_id, event_type, attempt, status_code, error, duration_ms)
SELECT id, owner_id, $2, $3, $4, $5, $6, $7 FROM webhooks WHERE id = $1
"""
_TRIM_ATTEMPTS = """
DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id <= (
    SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1
)
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """An endpoint leased by this process, and the event to send it."""

    webhook_id: uuid.UUID
    url: str
    secret: str
    lease_token: uuid.UUID
    # Failed attempts at this event so far (this one is number attempt + 1).
    attempt: int
    event: asyncpg.Record


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def claim_due(db: Database, limit: int, lease_seconds: float) -> list[Claim]:
    async def claim(conn: PooledConnection) -> list[asyncpg.Record]:
        async with conn.raw.transaction():
            return await conn.raw.fetch(_CLAIM, limit, lease_seconds)

    rows = await db.run(claim)
    return [
        Claim(
            webhook_id=row["webhook_id"],
            url=row["url"],
            secret=row["secret"],
            lease_token=row["lease_token"],
            attempt=row["attempt"],
            event=row,
        )
        for row in rows
    ]


async def record_outcome(
    db: Database,
    claim: Claim,
    outcome: Outcome,
    *,
    retry_in_seconds: float,
    disable_after_seconds: float,
) -> bool:
    """Record the attempt (keeping the endpoint's last DELIVERIES_KEPT) and move the
    endpoint on: past the event on success, else to its next attempt. Returns False when
    this failure disabled the endpoint."""
    event = claim.event
    reason = (
        f"Disabled after {disable_after_seconds / 3600:g} hours of failed deliveries; "
        f"the last: {outcome.error or f'HTTP {outcome.status_code}'}."
    )

    async def record(conn: PooledConnection) -> bool:
        raw = conn.raw
        async with raw.transaction():
            await raw.execute(
                _RECORD_ATTEMPT,
                claim.webhook_id,
                event["id"],
                event["type"],
                claim.attempt + 1,
                outcome.status_code,
                outcome.error,
                outcome.duration_ms,
            )
            await raw.execute(_TRIM_ATTEMPTS, claim.webhook_id, DELIVERIES_KEPT)
            if outcome.succeeded:
                await raw.execute(_SUCCEEDED, claim.webhook_id, claim.lease_token, event["id"])
                return True
            enabled = await raw.fetchval(
                _FAILED,
                claim.webhook_id,
                claim.lease_token,
                retry_in_seconds,
                disable_after_seconds,
                reason,
            )
            return enabled is not False

    return await db.run(record)
