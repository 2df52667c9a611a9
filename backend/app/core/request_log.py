"""One log line per request (method, route template, status, duration, request id, user id),
and the `X-Request-ID` response header. Never logs the token, the query string or a body."""

import logging
import time
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.request_id import HEADER, current_request_id, request_id_from

logger = logging.getLogger("app.request")

UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Scope) -> str:
    """`/api/v1/{user_id}/tasks/{task_id}`, never the concrete path (which holds user ids and
    would give metrics one series per task)."""
    route: Any = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def record_caller(request: Request, user_id: str) -> None:
    """Called on authenticated routes once the token is verified, so the log line can name
    the user."""
    request.state.user_id = user_id


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        # Not reset afterwards: under uvicorn each request runs in its own task, so the value
        # dies with it, and the server-error handler (outside this middleware) still sees it.
        current_request_id.set(request_id)
        # Request.state lives in this dict; creating it here lets the routes' writes reach us.
        state: dict[str, Any] = scope.setdefault("state", {})
        id_header = (HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if logger.isEnabledFor(logging.INFO):
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                method = scope["method"]
                route = route_template(scope)
                logger.info(
                    "%s %s %d %.2fms",
                    method,
                    route,
                    status,
                    duration_ms,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                        "request_id": request_id,
                        "user_id": state.get("user_id"),
                    },
                )
