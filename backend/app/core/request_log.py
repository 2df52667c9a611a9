"""One log line per request (method, route template, status, duration, request id, user id),
written by app.core.request_middleware. Never logs the token, the query string or a body."""

import logging
from typing import Any

from fastapi import Request
from starlette.types import Scope

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


def log_request(
    method: str, route: str, status: int, seconds: float, request_id: str, user_id: str | None
) -> None:
    """The request's line. The record is made and handled directly rather than through
    `logger.info`, which would also walk the stack to find the caller's file and line, which
    no log format here shows."""
    if not logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    extra = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "user_id": user_id,
    }
    arguments = (method, route, status, duration_ms)
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, "%s %s %d %.2fms", arguments, None, extra=extra
    )
    logger.handle(record)
