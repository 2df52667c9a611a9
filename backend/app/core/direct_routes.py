"""Routes that are served directly, in front of FastAPI's router.

FastAPI solves a route's dependencies through its generic machinery, and reaches the route
through its router and the layers around it (exception middleware, exit stacks, the matching
of every included router's routes), on every request: most of a task request's CPU time that
was left over the work itself (docs/performance.md). An endpoint may carry a *direct
resolver* (`resolved_directly`): an async function of the request that calls the very same
dependency functions, in the order FastAPI would, and then the endpoint itself.
`DirectDispatch`, the innermost middleware, sends each request that the router would give to
such a route straight to its resolver, and hands every other request to the router. FastAPI's
declaration stays the single source of the OpenAPI schema, and its handler answers whenever
the resolver declines (returns None). A resolver declines, before any side effect, every
request whose arguments only FastAPI's validation could report on in FastAPI's words, so that
every error keeps its exact form.
"""

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Endpoint = Callable[..., Awaitable[Response]]
# (the request, the route's endpoint) -> the endpoint's response, or None: declined.
DirectResolver = Callable[[Request, Endpoint], Awaitable[Response | None]]
ExceptionHandler = Callable[[Request, Exception], Any]

_ATTRIBUTE = "__direct_resolver__"
# A route without a path pattern (a Host) may match any path.
_ANY_PATH = re.compile("")


def resolved_directly(resolver: DirectResolver) -> Callable[[Endpoint], Endpoint]:
    """Marks an endpoint function with its direct resolver."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, resolver)
        return endpoint

    return mark


@dataclass(frozen=True)
class _Candidate:
    """One of the router's routes, in the router's order."""

    path: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method
    route: BaseRoute
    resolver: DirectResolver | None  # None: only the router serves it


class DirectDispatch:
    """Serves the requests of directly resolved routes without the router, exactly where the
    router would have served them: the first route whose path and method match, in the
    router's order, is the one the router would choose; when it is not a directly resolved
    one, or when any doubt remains (a `root_path`, a route without a path pattern), the
    router serves the request."""

    def __init__(
        self, app: ASGIApp, *, router: Router, exception_handlers: dict[Any, ExceptionHandler]
    ) -> None:
        self.app = app
        self.router = router
        candidates = [_candidate(context) for context in iter_route_contexts(router.routes)]
        # Routes after the last directly resolved one can never be chosen over it.
        last = max((i for i, c in enumerate(candidates) if c.resolver), default=-1)
        self.candidates = candidates[: last + 1]
        # As FastAPI's ExceptionMiddleware has them; 500 and Exception are the server-error
        # middleware's (outermost), which an unhandled exception still reaches.
        self.status_handlers = {
            key: handler
            for key, handler in exception_handlers.items()
            if isinstance(key, int) and key != 500
        }
        self.exception_handlers = {
            key: handler
            for key, handler in exception_handlers.items()
            if not isinstance(key, int) and key is not Exception
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self._chosen(scope) if scope["type"] == "http" else None
        if chosen is None:
            await self.app(scope, receive, send)
            return
        candidate, path_params = chosen
        route: Any = candidate.route
        resolver = candidate.resolver
        assert resolver is not None
        scope["router"] = self.router
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = path_params
        recorded = _RecordedReceive(receive)
        request = Request(scope, recorded, send)
        try:
            response = await resolver(request, route.endpoint)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await _called(handler, request, exc)
        if response is None:
            # Declined: the router serves it, FastAPI's handler reading what was received.
            await self.app(scope, recorded.replayed(), send)
            return
        await response(scope, receive, send)

    def _chosen(self, scope: Scope) -> tuple[_Candidate, dict[str, Any]] | None:
        if scope.get("root_path"):
            return None
        path: str = scope["path"]
        method: str = scope["method"]
        for candidate in self.candidates:
            match = candidate.path.match(path)
            if match is None:
                continue
            if candidate.methods is not None and method not in candidate.methods:
                continue  # the router only answers 405 when no later route matches fully
            if candidate.resolver is None:
                return None
            route: Any = candidate.route
            convertors = route.param_convertors
            return candidate, {
                name: convertors[name].convert(value) for name, value in match.groupdict().items()
            }
        return None

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None


def _candidate(context: Any) -> _Candidate:
    route: BaseRoute = context.original_route
    methods = getattr(context, "methods", None)
    return _Candidate(
        path=getattr(context, "path_regex", None) or _ANY_PATH,
        methods=frozenset(methods) if methods is not None else None,
        route=route,
        resolver=getattr(getattr(route, "endpoint", None), _ATTRIBUTE, None),
    )


async def _called(handler: ExceptionHandler, request: Request, exc: Exception) -> Response:
    """As Starlette calls an exception handler: a plain function in a thread."""
    if inspect.iscoroutinefunction(handler):
        return await handler(request, exc)  # type: ignore[no-any-return]
    return await run_in_threadpool(handler, request, exc)


class _RecordedReceive:
    """`receive`, keeping the messages it gave, so that a declined request reaches the router
    with its body."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []

    async def __call__(self) -> Message:
        message = await self.receive()
        self.messages.append(message)
        return message

    def replayed(self) -> Receive:
        pending = list(self.messages)

        async def receive() -> Message:
            return pending.pop(0) if pending else await self.receive()

        return receive
