"""405 answers whose `Allow` header lists every method of the path.

Starlette answers a 405 from the first route whose path matches, so `Allow` names only that
route's methods (`GET` for `/api/v1/{user_id}/tasks`, which also takes `POST`). HTTP requires
the full list, and the OpenAPI contract test checks it.
"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from app.core.errors import error_response


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
