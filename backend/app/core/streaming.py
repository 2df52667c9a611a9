"""Streamed responses whose body holds resources (a pooled connection, a transaction).

However the response ends (completed, client gone, request cancelled), the body's generator
is closed and its clean-up runs to the end. Starlette cancels a streaming body when the
client disconnects, and under that (anyio, level-triggered) cancellation every await in a
plain `finally` is cancelled again: the transaction's ROLLBACK would be cut short and only
asyncpg's own shielding of the pool release would stand between us and a lost connection.
When the server reports a disconnect by failing `send` instead, nothing closes the generator
until garbage collection: GeneratorResponse closes it at once.
"""

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


@asynccontextmanager
async def shielded_exit(manager: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """Enter `manager`; exit it shielded from cancellation, whatever happened inside."""
    value = await manager.__aenter__()
    try:
        yield value
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
    else:
        with anyio.CancelScope(shield=True):
            await manager.__aexit__(None, None, None)


class GeneratorResponse(StreamingResponse):
    """Streams `chunks` after `first` (already taken, so that failures before any byte
    is sent still get a proper error response), and always closes `chunks`."""

    def __init__(self, first: bytes, chunks: AsyncGenerator[bytes, None], media_type: str) -> None:
        self._chunks = chunks
        super().__init__(self._body(first), media_type=media_type)

    @classmethod
    async def start(
        cls, chunks: AsyncGenerator[bytes, None], media_type: str = "application/json"
    ) -> "GeneratorResponse":
        return cls(await anext(chunks), chunks, media_type)

    async def _body(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        async for chunk in self._chunks:
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._chunks.aclose()
