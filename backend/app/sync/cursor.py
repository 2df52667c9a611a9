"""The change feed's cursor: opaque to clients, a small versioned record to the server.

It names a position in one account's sequence of changes: the account's epoch (its row's
creation time, so that a cursor from before an erasure never continues the next account
of the same subject), the change number up to which the client is in sync, and, for a page
cut inside a run of equal change numbers, the last task id it received there.
"""

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from app.core.errors import ApiError

FORMAT_VERSION = 1
MAX_CURSOR_LENGTH = 200
_BIGINT = 2**63 - 1
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursor(ApiError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "invalid_cursor",
            "`since` is not a cursor this API issued; use the `cursor` of a previous answer, "
            "or leave `since` out to sync from scratch.",
        )


class CursorExpired(ApiError):
    def __init__(self) -> None:
        super().__init__(
            410,
            "cursor_expired",
            "This cursor is too old (deletions since then are no longer recorded) or belongs "
            "to an erased account; sync again from scratch, without `since`.",
        )


@dataclass(frozen=True, slots=True)
class Cursor:
    epoch: int
    seq: int
    # None: every change numbered `seq` was delivered.
    after_id: uuid.UUID | None = None


def epoch_of(created_at: datetime) -> int:
    """An account's epoch: its creation time in whole microseconds."""
    return (created_at - _UNIX_EPOCH) // timedelta(microseconds=1)


def encode(cursor: Cursor) -> str:
    after = None if cursor.after_id is None else str(cursor.after_id)
    raw = orjson.dumps([FORMAT_VERSION, cursor.epoch, cursor.seq, after])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str) -> Cursor:
    """The cursor in `text`, or InvalidCursor (422) for anything this module did not encode."""
    if len(text) > MAX_CURSOR_LENGTH or not _ALPHABET.fullmatch(text):
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        fields = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not (isinstance(fields, list) and len(fields) == 4):
        raise InvalidCursor()
    if not (_is_int(fields[0]) and fields[0] == FORMAT_VERSION):
        raise InvalidCursor()
    _, epoch, seq, after = fields
    if not (_is_int(epoch) and _is_int(seq) and 0 <= seq <= _BIGINT and abs(epoch) <= _BIGINT):
        raise InvalidCursor()
    return Cursor(epoch, seq, _uuid(after))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCursor()
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise InvalidCursor() from None
    if str(parsed) != value:
        raise InvalidCursor()
    return parsed
