"""The feed cursor: what the server issues it reads back; anything else is 422."""

import base64
import uuid

import orjson
import pytest

from app.sync.cursor import Cursor, InvalidCursor, decode, encode


def raw(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(epoch=1_764_000_000_000_000, seq=0),
        Cursor(epoch=1, seq=2**63 - 1),
        Cursor(epoch=-5, seq=7, after_id=uuid.UUID(int=0)),
        Cursor(epoch=123, seq=42, after_id=uuid.uuid4()),
    ],
)
def test_a_cursor_reads_back_as_issued(cursor: Cursor) -> None:
    text = encode(cursor)
    assert text.isascii()
    assert "=" not in text
    assert decode(text) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a cursor",
        "abc=",
        "%%%",
        "A" * 201,
        raw({"e": 1, "s": 2}),
        raw([1, 2, 3]),
        raw([2, 1, 1, None]),
        raw([True, 1, 1, None]),
        raw([1.0, 1, 1, None]),
        raw([1, 1, -1, None]),
        raw([1, 1, 2**63, None]),
        raw([1, 2**63, 1, None]),
        raw([1, 1, True, None]),
        raw([1, "1", 1, None]),
        raw([1, 1, 1, "not-a-uuid"]),
        raw([1, 1, 1, "00000000000000000000000000000000"]),
        raw([1, 1, 1, 5]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
        "Zm9v",  # "foo"
    ],
)
def test_anything_else_is_an_invalid_cursor(text: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode(text)
    assert caught.value.status_code == 422
    assert caught.value.code == "invalid_cursor"
