"""405 answers whose `Allow` header lists every method of the path.

Starlette answers a 405 from the first route whose path matches, so `Allow` names only that
route's methods (`GET` for `/api/v1/{user_id}/tasks`, which also takes `POST`). HTTP requires
the full list, and the OpenAPI contract test checks it.
"""

from collections.abc import Sequence
from typing import NoReturn

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from app.core.errors import ApiError, error_response

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    path: str = request.scope["path"]
    root_path: str = request.scope.get("root_path", "")
    if root_path and path.startswith(root_path):  # mounted under a prefix by the server
        path = path[len(root_path) :]
    allowed: set[str] = set()
    # Rare, so the routes are scanned here rather than indexed up front.
    for route in iter_route_contexts(request.app.routes):
        path_regex = getattr(route, "path_regex", None)
        if route.methods and path_regex is not None and path_regex.match(path):
            allowed.update(route.methods)
    headers = dict(exc.headers or {})
    if allowed:
        headers["Allow"] = ", ".join(sorted(allowed))
    return error_response(405, "method_not_allowed", exc.detail, headers)


def install_method_not_allowed_handler(app: FastAPI) -> None:
    # A handler for the status code takes precedence over the one for HTTPException.
    app.add_exception_handler(405, _method_not_allowed)


def reserve_fixed_path(router: APIRouter, path: str, allowed: Sequence[str]) -> None:
    """Answer 405 for the other methods of a fixed path that a parameterised route would
    otherwise take: without this, `PUT /tasks/trash` reaches `PUT /tasks/{task_id}` and is
    refused as a malformed task id (422), and its 405 would list that route's methods."""
    allow = ", ".join(sorted(allowed))

    async def method_not_allowed() -> NoReturn:
        raise ApiError(405, "method_not_allowed", "Method Not Allowed", {"Allow": allow})

    others = [method for method in _METHODS if method not in allowed]
    router.add_api_route(
        path, method_not_allowed, methods=others, include_in_schema=False, response_model=None
    )
