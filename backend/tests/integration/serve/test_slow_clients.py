"""A client that is slow to send its request head cannot hold a connection for ever, and
a request that is slow to serve is not cut by that deadline."""

import asyncio
import select
import socket
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests.integration.serve.served_app import ServedApp, served_app, start_blocked_update

pytestmark = pytest.mark.anyio

HEADER_TIMEOUT_SECONDS = 1
# Longer than the header deadline plus scheduling; reaching it means "never closed".
PATIENCE_SECONDS = HEADER_TIMEOUT_SECONDS + 4
TRICKLE_INTERVAL_SECONDS = 0.2


@pytest.fixture(scope="module")
def app(database_url: str) -> Iterator[ServedApp]:
    # The database URL is only for start-up (migrations); these requests need no database.
    with served_app(
        database_url, database_url, HTTP_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_SECONDS)
    ) as served:
        yield served


def closed_by_server(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def test_half_a_request_line_is_disconnected(app: ServedApp) -> None:
    with socket.create_connection(("127.0.0.1", app.port), timeout=PATIENCE_SECONDS) as sock:
        sock.sendall(b"GET /heal")
        # A timeout here (the server still waiting) fails the test.
        assert sock.recv(1024) == b""


def test_a_head_sent_one_byte_at_a_time_is_disconnected(app: ServedApp) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"x" * 100
    deadline = time.monotonic() + PATIENCE_SECONDS
    with socket.create_connection(("127.0.0.1", app.port), timeout=PATIENCE_SECONDS) as sock:
        for byte in head:
            if closed_by_server(sock) or time.monotonic() > deadline:
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(TRICKLE_INTERVAL_SECONDS)
        assert time.monotonic() <= deadline, "the trickling client was never disconnected"


def test_an_idle_keep_alive_connection_is_closed_after_the_deadline(app: ServedApp) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(("127.0.0.1", app.port), timeout=PATIENCE_SECONDS) as sock:
        sock.sendall(request)
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first
        # Kept alive, then idle: closed once the next request's head is overdue.
        started = time.monotonic()
        while chunk := sock.recv(4096):
            assert time.monotonic() - started < PATIENCE_SECONDS, chunk
        assert time.monotonic() - started >= HEADER_TIMEOUT_SECONDS * 0.9


def test_an_idle_connection_and_a_prompt_one_are_treated_apart(app: ServedApp) -> None:
    """The deadline closes a connection that sends nothing, and spares one that is prompt."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=PATIENCE_SECONDS) as idle:
        assert idle.recv(1024) == b""
    with httpx.Client(base_url=app.base_url, timeout=PATIENCE_SECONDS) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200


async def test_a_request_slower_than_the_header_deadline_still_completes(
    app: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with (
        asyncio.timeout(30),
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as http,
    ):
        patch, lock = await start_blocked_update(app, db, http)
        await asyncio.sleep(HEADER_TIMEOUT_SECONDS + 1)
        await lock.rollback()
        response = await patch
        assert response.status_code == 200, response.text
