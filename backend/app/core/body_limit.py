"""Refuse request bodies over the limit with 413, before they are read whole."""

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import send_error

MAX_BODY_BYTES = 1024 * 1024


def _too_large(limit: int) -> str:
    return f"Request body is larger than {limit} bytes."


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


class BodySizeLimitMiddleware:
    """Checks Content-Length up front and counts the bytes of bodies sent without it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await send_error(send, 413, "payload_too_large", _too_large(limit))
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route while FastAPI reads the body, so the
                    # app's own error handler turns it into the JSON 413.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
