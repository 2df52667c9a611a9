"""The request id: taken from `X-Request-ID` when the caller (or a proxy) sent a usable one,
otherwise generated (32 random hex digits); available to every log line written while the
request is handled."""

import os
import re
from contextvars import ContextVar

HEADER = b"x-request-id"
MAX_LENGTH = 128
# Visible ASCII only: an id is copied into log lines and response headers, so spaces,
# control characters and non-ASCII (log injection, header splitting) are never accepted.
_USABLE = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's id when it is usable, else a new one (32 hex digits)."""
    for name, value in headers:
        if name == HEADER:
            if _USABLE.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()
