"""The operations on a whole account, across every kind of the user's data: export and
erasure. Above both users/ and tasks/ (which never import it), so neither has to reach
into the other.

The export is one JSON document streamed from the database. Rows are read through
server-side cursors in a read-only repeatable-read transaction: the document is one
consistent snapshot (a task is never both in `tasks` and `trash`), and memory stays flat
however large the account.
"""

from collections.abc import AsyncGenerator, Callable
from typing import Any

import asyncpg

from app.core.database import (
    MAX_POOLER_RETRIES,
    POOLER_STATEMENT_ERRORS,
    Database,
    DatabaseUnavailable,
)
from app.core.json_response import dumps
from app.core.streaming import shielded_exit
from app.tasks.service import COLUMNS, provision_owner, task_json
from app.users.service import forget_user

FETCH_SIZE = 500

_USER = "SELECT id, email, created_at FROM users WHERE id = $1"

Shape = Callable[[asyncpg.Record], dict[str, Any]]


def _trashed(row: asyncpg.Record) -> dict[str, Any]:
    return {**task_json(row), "deleted_at": row["deleted_at"]}


def _deletion(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["task_id"], "deleted_at": row["deleted_at"]}


# (key, query of the owner $1, shape of a row), in the document's order.
_SECTIONS: tuple[tuple[str, str, Shape], ...] = (
    (
        "tasks",
        f"SELECT {COLUMNS} FROM tasks WHERE owner_id = $1 AND deleted_at IS NULL "
        "ORDER BY created_at DESC, id DESC",
        task_json,
    ),
    (
        "trash",
        f"SELECT {COLUMNS}, deleted_at FROM tasks WHERE owner_id = $1 "
        "AND deleted_at IS NOT NULL ORDER BY deleted_at DESC, id DESC",
        _trashed,
    ),
    (
        "deleted",
        "SELECT task_id, deleted_at FROM tombstones WHERE owner_id = $1 ORDER BY change_seq",
        _deletion,
    ),
)


async def export_account(db: Database, user_id: str) -> AsyncGenerator[bytes, None]:
    """`{"user": {...}, "tasks": [...], "trash": [...], "deleted": [...]}`, in chunks.

    The first chunk is produced once the connection and the user row are there, so that a
    caller taking it before responding still turns a database failure into a 503. A pooler
    that lost a prepared statement before then (the snapshot was rolled back, nothing was
    sent) gets the export started again, as `Database.run` does for other transactions.
    """
    attempt = 0
    while True:
        chunks = _document(db, user_id)
        try:
            first = await anext(chunks)
            break
        except DatabaseUnavailable as exc:
            if attempt >= MAX_POOLER_RETRIES or not isinstance(
                exc.__cause__, POOLER_STATEMENT_ERRORS
            ):
                raise
            attempt += 1
    try:
        yield first
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()


async def _document(db: Database, user_id: str) -> AsyncGenerator[bytes, None]:
    async with shielded_exit(db.connection()) as conn:
        if await conn.fetchrow(_USER, user_id) is None:
            # Erased since this process cached the user: a new, empty account.
            await provision_owner(conn, user_id)
        raw = conn.raw
        snapshot = raw.transaction(isolation="repeatable_read", readonly=True)
        async with shielded_exit(snapshot):
            user = await raw.fetchrow(_USER, user_id)
            assert user is not None
            yield b'{"user":' + dumps(dict(user))
            for key, query, shape in _SECTIONS:
                # Each chunk starts with what must come before its first row.
                lead = b',"' + key.encode() + b'":['
                cursor = await raw.cursor(query, user_id)
                while rows := await cursor.fetch(FETCH_SIZE):
                    yield lead + b",".join(dumps(shape(row)) for row in rows)
                    lead = b","
                yield (b"" if lead == b"," else lead) + b"]"
            yield b"}"


_ERASE_USER = "DELETE FROM users WHERE id = $1"


async def erase_account(db: Database, user_id: str) -> None:
    """Delete the user and, by the foreign keys' ON DELETE CASCADE, everything of theirs
    (tasks live and trashed, tombstones, idempotency records).

    Other processes may still remember the user as stored; their next write finds the row
    missing and provisions a new, empty user (see app/tasks/service.py `provision_owner`).
    """
    async with db.connection() as conn:
        await conn.execute(_ERASE_USER, user_id)
    forget_user(user_id)
