"""docs/api.md documents every route of the OpenAPI schema: each operation appears there as
`METHOD /path`, as in its routes table, so a route added without its documentation fails."""

import re
from pathlib import Path

import pytest

from app.core.config import BACKEND_DIR
from app.openapi_schema import openapi_schema

API_DOC = Path(BACKEND_DIR).parent / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in openapi_schema()["paths"].items()
        for method in item
        if method in METHODS
    ]


def _documented(text: str, method: str, path: str) -> bool:
    # The path ends where the route does: at a query string, a space, a backtick or a pipe.
    return re.search(rf"{method} {re.escape(path)}(?![\w/{{}}-])", text) is not None


def test_the_schema_has_the_routes_this_test_reads() -> None:
    assert ("GET", "/api/v1/{user_id}/tasks") in _operations()
    assert len(_operations()) >= 15


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_route_of_the_schema_is_in_the_api_document(method: str, path: str) -> None:
    assert _documented(API_DOC.read_text(encoding="utf-8"), method, path), (
        f"docs/api.md does not mention `{method} {path}`: add it to the routes table"
    )


def test_a_route_named_only_as_a_prefix_is_not_documented() -> None:
    text = "| `GET /api/v1/{user_id}/tasks` | 200 |"
    assert _documented(text, "GET", "/api/v1/{user_id}/tasks")
    assert not _documented(text, "GET", "/api/v1/{user_id}")
    assert not _documented(text, "POST", "/api/v1/{user_id}/tasks")
