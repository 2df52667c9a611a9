"""Security headers on every response; a docs policy that allows what the docs pages load."""

import re
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import auth
from tests.integration.core.running_app import running_app

pytestmark = pytest.mark.anyio


def directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_standard_headers(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/alice/tasks", "/openapi.json", "/nowhere"])
async def test_api_responses_carry_a_policy_that_allows_nothing(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert_standard_headers(response)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "Strict-Transport-Security" not in response.headers


async def test_authenticated_responses_are_not_stored(client: httpx.AsyncClient) -> None:
    listed = await client.get("/api/v1/alice/tasks", headers=auth())
    assert listed.status_code == 200
    assert listed.headers["Cache-Control"] == "no-store"
    refused = await client.get("/api/v1/alice/tasks", headers=auth("bob"))
    assert refused.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in (await client.get("/healthz")).headers


async def test_responses_from_middleware_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    too_large = await client.post(
        "/api/v1/alice/tasks", content=b"x" * (1024 * 1024 + 1), headers=auth()
    )
    assert too_large.status_code == 413
    assert_standard_headers(too_large)
    assert too_large.headers["Cache-Control"] == "no-store"


async def test_hsts_only_when_configured(settings: Settings) -> None:
    async with running_app(settings, hsts_max_age_seconds=31536000) as run:
        response = await run.client.get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_docs_policy_allows_everything_the_page_loads(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert_standard_headers(response)
    policy = directives(response.headers["Content-Security-Policy"])
    html = response.text
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*\bhref="([^"]+)"[^>]*rel="stylesheet"', html) + re.findall(
        r'<link[^>]*rel="stylesheet"[^>]*\bhref="([^"]+)"', html
    )
    icons = re.findall(r'<link[^>]*rel="shortcut icon"[^>]*\bhref="([^"]+)"', html)
    assert scripts
    for url, directive in [
        *((url, "script-src") for url in scripts),
        *((url, "style-src") for url in styles),
        *((url, "img-src") for url in icons),
    ]:
        parts = urlsplit(url)
        source = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
        assert source in policy[directive], f"{url} is blocked by {directive}"
    if re.search(r"<script>\s*\S", html):  # an inline script
        assert "'unsafe-inline'" in policy["script-src"]
    # The page fetches the schema from this server.
    assert "'self'" in policy["connect-src"]
    assert policy["frame-ancestors"] == ["'none'"]
