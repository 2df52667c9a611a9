"""A request still running when the shutdown grace period ends gets a 503, not a 500.

After SHUTDOWN_GRACE_SECONDS the server cancels the requests still in flight. Left alone,
uvicorn would answer those with a plain-text 500 and a stack trace in the log; here the
client gets the API's JSON error with Retry-After, so it knows to try again (another
instance, or this one restarted), and the request log records a 503.
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import DATABASE_RETRY_AFTER_SECONDS, send_error


class ShutdownCancellationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if response_started or task is None:
                raise
            # The server cancelled this request to shut down; answer it and end normally.
            task.uncancel()
            await send_error(
                send,
                503,
                "shutting_down",
                "The server is shutting down; retry shortly.",
                {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
