"""The one pure-ASGI middleware every HTTP request passes through, outermost, in one pass:

- load shedding: a worker holding as many requests as it finishes in `MAX_EXPECTED_WAIT_MS`
  (app.core.admission), or `MAX_CONCURRENT_REQUESTS`, answers the next one at once with 503
  `overloaded` and `Retry-After`, instead of queueing it behind the others for seconds (health
  probes and /metrics are never refused);
- the request body limit (413 `payload_too_large`, before the body is read whole);
- the request id (`X-Request-ID`, see app.core.request_id);
- the security headers (app.core.security_headers);
- the request log line and the Prometheus metrics.

One middleware rather than one per concern: each pure-ASGI layer wraps `send` and adds a call
frame to every request, and these five need the same moment (the response's start) anyway.
Its own refusals (413, 503) go through the CORS middleware when one is configured, so that a
browser can read them too.
"""

import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.admission import Admission
from app.core.body_limit import MAX_BODY_BYTES, BodyTooLarge, too_large
from app.core.errors import send_error
from app.core.metrics import METRICS_PATH, Metrics
from app.core.request_id import current_request_id, request_id_from
from app.core.request_log import log_request, route_template
from app.core.security_headers import SecurityHeaders

# Never refused for overload: a probe that failed under load would get a busy pod restarted
# or taken out of the load balancer, which makes the overload worse.
NEVER_SHED = frozenset({"/healthz", "/readyz", METRICS_PATH})
# Paths ending so are event streams (app/events): open for minutes or hours, they are neither
# counted as in flight nor shed (SSE_MAX_STREAMS_PER_USER bounds them instead).
LONG_LIVED_SUFFIX = "/events"
OVERLOAD_RETRY_AFTER_SECONDS = 1
ERROR_KEY = "app.refusal"

ErrorWrapper = Callable[[ASGIApp], ASGIApp]


async def _send_refusal(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that sends the refusal the middleware put in the scope."""
    status, code, detail, headers, close = scope[ERROR_KEY]
    await send_error(send, status, code, detail, headers, close=close)


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None = None,
        hsts_max_age_seconds: int = 0,
        admission: Admission | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        wrap_refusals: ErrorWrapper | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.security_headers = SecurityHeaders(hsts_max_age_seconds)
        self.admission = admission
        self.max_body_bytes = max_body_bytes
        self.refuse: ASGIApp = wrap_refusals(_send_refusal) if wrap_refusals else _send_refusal
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_headers = scope["headers"]
        request_id = request_id_from(request_headers)
        # Not reset afterwards: each request runs in its own task, so the value dies with it,
        # and the server-error handler (outside this middleware) still sees it.
        current_request_id.set(request_id)
        # Request.state lives in this dict; creating it here lets the routes' writes reach us
        # (the authentication dependency records the caller's id for the log line).
        state: dict[str, Any] = scope.setdefault("state", {})
        content_length, has_body, credentialed = _read_headers(request_headers)
        id_header = (b"x-request-id", request_id.encode("ascii"))
        path = scope["path"]
        status = 500  # what the client gets if the app raises before answering

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self.security_headers.added_to(
                    path, credentialed, [*message.get("headers", ()), id_header]
                )
            await send(message)

        limit = self.max_body_bytes
        counted = not path.endswith(LONG_LIVED_SUFFIX)
        if counted:
            self.in_flight += 1
        try:
            if content_length is not None and (
                not content_length.isdigit() or int(content_length) > limit
            ):
                scope[ERROR_KEY] = (413, "payload_too_large", too_large(limit), None, True)
                await self.refuse(scope, receive, send_with_headers)
            elif (
                counted
                and self.admission is not None
                and not self.admission.admits(self.in_flight)
                and path not in NEVER_SHED
            ):
                if self.metrics is not None:
                    self.metrics.count_shed()
                retry_after = {"Retry-After": str(OVERLOAD_RETRY_AFTER_SECONDS)}
                detail = "The server is busy; retry after `Retry-After` seconds."
                # The connection is kept when there is no body left unread on it.
                scope[ERROR_KEY] = (503, "overloaded", detail, retry_after, has_body)
                await self.refuse(scope, receive, send_with_headers)
            else:
                await self.app(scope, _limited(receive, limit), send_with_headers)
                if counted and self.admission is not None:
                    self.admission.finished += 1
        finally:
            if counted:
                self.in_flight -= 1
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.observe(method, route, status, seconds)
            log_request(method, route, status, seconds, request_id, state.get("user_id"))


def _read_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bool, bool]:
    """Content-Length (None when absent), whether a body follows, whether credentials came."""
    content_length: bytes | None = None
    chunked = credentialed = False
    for name, value in headers:
        if name == b"content-length":
            if content_length is None:
                content_length = value
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"authorization":
            credentialed = True
    has_body = chunked or content_length not in (None, b"0")
    return content_length, has_body, credentialed


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` counting the bytes of the body, for bodies sent without Content-Length."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the route while FastAPI reads the body, so the app's own
                # error handler turns it into the JSON 413.
                raise BodyTooLarge(limit)
        return message

    return limited_receive
