"""Routes that can resolve their own arguments directly.

FastAPI resolves a route's dependencies through its generic machinery on every request, the
largest share of a task request's CPU time that was left (docs/performance.md). A route of
this class may carry a *direct resolver*: an async function of the request that calls the
very same dependency functions, in the order FastAPI would, and then the endpoint itself.
FastAPI's declaration stays the single source of the OpenAPI schema, and its handler runs
whenever the resolver declines (returns None). A resolver declines, before any side effect,
every request whose arguments only FastAPI's validation could report on in FastAPI's words,
so that every error keeps its exact form.
"""

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[..., Awaitable[Response]]
# (the request, the route's endpoint) -> the endpoint's response, or None: declined.
DirectResolver = Callable[[Request, Endpoint], Awaitable[Response | None]]

_ATTRIBUTE = "__direct_resolver__"


def resolved_directly(resolver: DirectResolver) -> Callable[[Endpoint], Endpoint]:
    """Marks an endpoint function with its direct resolver (applied under the route's
    decorator, so the route sees the mark when it is created)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, resolver)
        return endpoint

    return mark


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.endpoint
        resolver: DirectResolver | None = getattr(endpoint, _ATTRIBUTE, None)
        if resolver is None:
            return handler

        async def direct_or_declared(request: Request) -> Response:
            response = await resolver(request, endpoint)
            return response if response is not None else await handler(request)

        return direct_or_declared
