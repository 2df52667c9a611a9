"""Bodies over 1 MiB are refused with 413, whether announced by Content-Length or streamed
without it, and nothing is stored or changed."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.conftest import auth

pytestmark = pytest.mark.anyio


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client


LIMIT = 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}


def padded_body(size: int) -> bytes:
    """A task body of exactly `size` bytes (whitespace pads it; JSON ignores it)."""
    start = b'{"title": "padded", "description": "d"'
    return start + b" " * (size - len(start) - 1) + b"}"


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    body = padded_body(total)
    for start in range(0, total, size):
        yield body[start : start + size]


async def task_id(client: httpx.AsyncClient) -> str:
    created = await client.post("/api/v1/alice/tasks", json={"title": "kept"}, headers=auth())
    value: str = created.json()["id"]
    return value


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.json() == {
        "detail": f"Request body is larger than {LIMIT} bytes.",
        "code": "payload_too_large",
    }


async def test_a_body_of_exactly_1_mib_is_read(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/api/v1/alice/tasks", content=padded_body(LIMIT), headers={**auth(), **JSON_HEADERS}
    )
    assert response.status_code == 201, response.text[:300]
    assert await db.fetchval("SELECT count(*) FROM tasks") == 1


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT])
async def test_a_larger_body_with_content_length_is_413(
    client: httpx.AsyncClient, db: asyncpg.Connection, size: int
) -> None:
    response = await client.post(
        "/api/v1/alice/tasks", content=padded_body(size), headers={**auth(), **JSON_HEADERS}
    )
    assert response.request.headers["content-length"] == str(size)
    assert_413(response)
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_a_larger_streamed_body_without_content_length_is_413(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/api/v1/alice/tasks", content=chunks(LIMIT + 1), headers={**auth(), **JSON_HEADERS}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_413(response)
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_a_streamed_body_within_the_limit_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/alice/tasks", content=chunks(LIMIT), headers={**auth(), **JSON_HEADERS}
    )
    assert response.status_code == 201, response.text[:300]


@pytest.mark.parametrize(("method", "suffix"), [("PUT", ""), ("PATCH", ""), ("PATCH", "/complete")])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_every_route_with_a_body_refuses_it_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, method: str, suffix: str, streamed: bool
) -> None:
    task = await task_id(client)
    before = await db.fetchrow("SELECT * FROM tasks WHERE id = $1", uuid.UUID(task))
    content = chunks(LIMIT + 1) if streamed else padded_body(LIMIT + 1)
    response = await client.request(
        method,
        f"/api/v1/alice/tasks/{task}{suffix}",
        content=content,
        headers={**auth(), **JSON_HEADERS},
    )
    assert_413(response)
    assert await db.fetchrow("SELECT * FROM tasks WHERE id = $1", uuid.UUID(task)) == before
