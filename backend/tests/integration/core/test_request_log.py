"""One structured line per request, and the request id in `X-Request-ID`."""

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import auth, make_token
from tests.integration.core.running_app import running_app

pytestmark = pytest.mark.anyio

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """A plain stream handler on the root logger, as `logging.basicConfig` installs: the app
    reformats it, so what it receives is exactly what the process would print."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "app.request"]


async def test_one_json_line_per_request_with_route_template_and_user(
    settings: Settings, log_stream: io.StringIO
) -> None:
    token = make_token("alice")
    async with running_app(settings, log_format="json") as run:
        created = await run.client.post(
            "/api/v1/alice/tasks",
            json={"title": "secret body text"},
            headers={"Authorization": f"Bearer {token}"},
        )
        task_id = created.json()["id"]
        fetched = await run.client.get(
            f"/api/v1/alice/tasks/{task_id}?completed=secret-query",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert fetched.status_code == 200
    lines = request_lines(log_stream)
    assert len(lines) == 2
    first, second = lines
    assert first["method"] == "POST"
    assert first["route"] == "/api/v1/{user_id}/tasks"
    assert first["status"] == 201
    assert second["route"] == "/api/v1/{user_id}/tasks/{task_id}"
    assert second["status"] == 200
    assert second["user_id"] == "alice"
    assert second["request_id"] == fetched.headers["X-Request-ID"]
    assert isinstance(second["duration_ms"], float)
    assert second["duration_ms"] >= 0
    assert second["level"] == "INFO"
    assert "time" in second
    # Never the token, a body or the concrete path and query.
    everything = log_stream.getvalue()
    for secret in (token, "secret body text", "secret-query", task_id):
        assert secret not in everything


async def test_unauthenticated_and_unmatched_requests_are_logged_without_a_user(
    settings: Settings, log_stream: io.StringIO
) -> None:
    async with running_app(settings, log_format="json") as run:
        await run.client.get("/api/v1/alice/tasks")
        await run.client.get("/no/such/path")
        await run.client.get("/api/v1/alice/tasks", headers=auth("mallory"))
    unauthenticated, unmatched, forbidden = request_lines(log_stream)
    assert unauthenticated["status"] == 401
    assert unauthenticated["user_id"] is None
    assert unmatched["status"] == 404
    assert unmatched["route"] == "unmatched"
    # The token is valid, so its subject is known even though the path is someone else's.
    assert forbidden["status"] == 403
    assert forbidden["user_id"] == "mallory"


async def test_text_format(settings: Settings, log_stream: io.StringIO) -> None:
    async with running_app(settings, log_format="text") as run:
        response = await run.client.get("/healthz")
    lines = [line for line in log_stream.getvalue().splitlines() if " app.request " in line]
    assert len(lines) == 1
    line = lines[0]
    assert "INFO app.request" in line
    assert "GET /healthz 200" in line
    assert f"[{response.headers['X-Request-ID']}]" in line


async def test_a_request_id_is_generated_when_none_is_given(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert GENERATED_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_a_given_request_id_is_returned(client: httpx.AsyncClient) -> None:
    given = "req-2024.01:abc/DEF_123"
    response = await client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize(
    "unusable",
    ["x" * 129, "has space", "tab\there", "caf\u00e9".encode(), "new\x7fline", ""],
    ids=["too-long", "space", "tab", "non-ascii", "control", "empty"],
)
async def test_an_unusable_request_id_is_replaced(
    client: httpx.AsyncClient, unusable: str | bytes
) -> None:
    value = unusable if isinstance(unusable, bytes) else unusable.encode()
    response = await client.get("/healthz", headers=[(b"X-Request-ID", value)])
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


async def test_error_responses_carry_the_request_id(client: httpx.AsyncClient) -> None:
    too_large = await client.post(
        "/api/v1/alice/tasks",
        content=b"x" * (1024 * 1024 + 1),
        headers={**auth(), "X-Request-ID": "big-one"},
    )
    assert too_large.status_code == 413
    assert too_large.headers["X-Request-ID"] == "big-one"


async def test_log_lines_written_during_a_request_carry_its_id(
    settings: Settings, log_stream: io.StringIO
) -> None:
    # The rate limiter logs a warning from inside the request when Redis refuses connections.
    async with running_app(
        settings, log_format="json", rate_limit="5/minute", redis_url="redis://127.0.0.1:1/0"
    ) as run:
        response = await run.client.get(
            "/api/v1/alice/tasks", headers={**auth(), "X-Request-ID": "inner-1"}
        )
    assert response.status_code == 200
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    warnings = [line for line in lines if line["logger"] == "app.rate_limit"]
    assert warnings
    assert all(line["request_id"] == "inner-1" for line in warnings)
