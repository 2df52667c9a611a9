"""Request bodies over the limit are refused with 413 before they are read whole (by
app.core.request_middleware: up front from Content-Length, or while a body sent without it is
read)."""

from fastapi import HTTPException

MAX_BODY_BYTES = 1024 * 1024


def too_large(limit: int) -> str:
    return f"Request body is larger than {limit} bytes."


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))
