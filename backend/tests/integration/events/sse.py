"""A real SSE client over HTTP (httpx streaming), for tests of GET /api/v1/{user}/events."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.conftest import auth

# Bounds that only catch hangs: a healthy stream answers in milliseconds.
HANG_SECONDS = 20.0


@dataclass
class Message:
    id: str | None
    event: str
    data: Any


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, within: float = HANG_SECONDS) -> Message:
        """The next event (comments are collected, not returned)."""
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line == "":
                    if fields:
                        data = orjson.loads(fields["data"])
                        return Message(fields.get("id"), fields["event"], data)
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            raise EOFError("the stream ended")

    async def take(self, count: int, within: float = HANG_SECONDS) -> list[Message]:
        return [await self.next(within) for _ in range(count)]

    async def until_end(self, within: float = HANG_SECONDS) -> list[Message]:
        """Every event left, once the server has ended the stream."""
        received = []
        while True:
            try:
                received.append(await self.next(within))
            except EOFError:
                return received


@asynccontextmanager
async def open_stream(
    base_url: str,
    user: str = "alice",
    *,
    last_event_id: str | None = None,
    since: str | None = None,
    expect_status: int = 200,
) -> AsyncIterator[Stream]:
    headers = auth(user)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {"since": since} if since is not None else None
    timeout = httpx.Timeout(HANG_SECONDS, read=None)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as http,
        http.stream("GET", f"/api/v1/{user}/events", headers=headers, params=params) as response,
    ):
        if response.status_code != expect_status:
            await response.aread()
            raise AssertionError(f"{response.status_code}: {response.text}")
        stream = Stream(response)
        if expect_status == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
            # The server's first chunk: the stream is registered once the headers are here.
        yield stream
