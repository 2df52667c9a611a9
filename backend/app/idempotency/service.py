"""Idempotency keys (the IETF `Idempotency-Key` draft, with Stripe's semantics): a POST
retried with the same key is answered with its first response and does nothing again.

One request with a key is one transaction on one connection:

1. `pg_try_advisory_xact_lock` on (user, key). Not granted: the same key is being handled
   right now by another request, which is answered 409 `idempotency_in_progress` at once (as
   the draft prescribes) instead of holding a connection while it waits.
2. The stored response for the key, if any (and unexpired): replayed when the request body
   is the same JSON, else 422 `idempotency_key_reused`.
3. The operation itself, on the same connection and transaction.
4. Its response stored (INSERT ... ON CONFLICT), and the transaction committed.

Because the effects and the stored response commit together, a crash at any point leaves
either both or neither: there is no "in progress" row to go stale. The lock is the
transaction's own, released at commit or rollback, and PostgreSQL ends the transaction of a
process that died; one that hangs with its connection open is cut off by
`idle_in_transaction_session_timeout`, set for this transaction only. The primary key
(owner_id, key) is the last line: if two requests with one key ever ran at once, the second
could not store its response, and its transaction (with its effects) would be rolled back.

A response that is not a success (4xx) rolls the transaction back and is not stored, so the
key stays free; an error (5xx, or the database gone) leaves nothing either. Expired keys are
ignored, taken over by the next request with the same key, and deleted by the retention
sweep (app.core.housekeeping).
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from asyncpg.pool import PoolConnectionProxy
from starlette.responses import Response

from app.core.database import Database, PooledConnection, Queries
from app.core.errors import ApiError

# Headers of the first response that a replay repeats.
REPLAYED_HEADERS = ("Location", "ETag")
REPLAYED_MARKER = "Idempotent-Replayed"
# A transaction of ours never sits idle this long between two statements unless the process
# driving it is stuck; then the server ends it, and the key is free again.
STUCK_TRANSACTION_TIMEOUT = "30s"

# What an operation runs on: the pool (no key: the operation takes what it needs) or, with a
# key, the connection whose transaction will also store the response.
Executor = Database | PoolConnectionProxy
Operation = Callable[[Executor], Awaitable[Response]]


class IdempotencyInProgress(ApiError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still being processed; retry shortly "
            "to receive its response.",
        )


class IdempotencyKeyReused(ApiError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request; use a new key "
            "for a new request.",
        )


class _Unstored(Exception):
    """Leaves the transaction (rolling it back) with a response that must not be stored."""

    def __init__(self, response: Response) -> None:
        self.response = response


_LOCK = """
SELECT pg_try_advisory_xact_lock($1),
       set_config('idle_in_transaction_session_timeout', $2, true)
"""

_STORED = """
SELECT fingerprint, status_code, body, headers FROM idempotency_keys
WHERE owner_id = $1 AND key = $2 AND expires_at > now()
"""

# An expired row of the same key is taken over. A live one cannot exist (the lock), but if
# it did, nothing is returned and the caller rolls back.
_STORE = """
INSERT INTO idempotency_keys (owner_id, key, fingerprint, status_code, body, headers,
                              expires_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + make_interval(hours => $7))
ON CONFLICT (owner_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, status_code = EXCLUDED.status_code,
        body = EXCLUDED.body, headers = EXCLUDED.headers, created_at = now(),
        expires_at = EXCLUDED.expires_at
    WHERE idempotency_keys.expires_at <= now()
RETURNING true
"""

# Rows other transactions hold (a key being taken over) are skipped: the next sweep has them.
_PURGE_EXPIRED = """
DELETE FROM idempotency_keys WHERE (owner_id, key) IN (
    SELECT owner_id, key FROM idempotency_keys WHERE expires_at <= now()
    LIMIT $1 FOR UPDATE SKIP LOCKED)
"""


async def purge_expired_keys(conn: Queries, batch_size: int) -> tuple[int, bool]:
    """Delete up to `batch_size` expired keys, of every user (a housekeeping job, see
    app.core.housekeeping). Returns how many, and whether more may be waiting."""
    status = await conn.execute(_PURGE_EXPIRED, batch_size)
    removed = int(status.split()[-1])
    return removed, removed == batch_size


def fingerprint(route: str, body: Any) -> str:
    """What makes two requests "the same": the route and the body, equal as JSON (key order,
    spacing and escapes do not matter, nor 1 versus 1.0)."""
    canonical = json.dumps(
        [route, _canonical(body)], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def _lock_id(owner_id: str, key: str) -> int:
    # A 64-bit advisory lock id for (user, key); the length prefix keeps ("a:", "b") and
    # ("a", ":b") apart. A collision would only answer 409 to a request that could have run.
    digest = hashlib.sha256(f"{len(owner_id)}:{owner_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def respond_once(
    db: Database,
    owner_id: str,
    key: str,
    request_fingerprint: str,
    ttl_hours: int,
    operation: Operation,
) -> Response:
    """The response of `operation`, run at most once per (user, key) within the TTL."""

    # One transaction: if a pooler loses a prepared statement in it, it is rolled back and
    # `db.run` runs it again.
    async def once(pooled: PooledConnection) -> Response:
        conn = pooled.raw
        try:
            async with conn.transaction():
                lock = await conn.fetchrow(
                    _LOCK, _lock_id(owner_id, key), STUCK_TRANSACTION_TIMEOUT
                )
                if lock is None or not lock[0]:
                    raise IdempotencyInProgress()
                stored = await conn.fetchrow(_STORED, owner_id, key)
                if stored is not None:
                    if stored["fingerprint"] != request_fingerprint:
                        raise IdempotencyKeyReused()
                    return _replay(stored["status_code"], stored["body"], stored["headers"])
                response = await operation(conn)
                if not 200 <= response.status_code < 300:
                    raise _Unstored(response)
                headers = {
                    name: response.headers[name]
                    for name in REPLAYED_HEADERS
                    if name in response.headers
                }
                if not await conn.fetchval(
                    _STORE,
                    owner_id,
                    key,
                    request_fingerprint,
                    response.status_code,
                    bytes(response.body),
                    orjson.dumps(headers).decode(),
                    ttl_hours,
                ):
                    raise IdempotencyInProgress()
                return response
        except _Unstored as unstored:
            return unstored.response

    return await db.run(once)


def _replay(status_code: int, body: bytes, headers_json: str) -> Response:
    headers: dict[str, str] = orjson.loads(headers_json)
    return Response(
        content=body,
        status_code=status_code,
        media_type="application/json",
        headers={**headers, REPLAYED_MARKER: "true"},
    )
