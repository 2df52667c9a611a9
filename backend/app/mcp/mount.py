"""/mcp on the app: the gate (app.mcp.auth) and the protected resource metadata, with the
SDK's session manager started on the first request that reaches it.

The SDK is about 20 MB of a worker's memory (docs/performance.md, Memory): a worker that
never serves /mcp never loads it. The manager's task group runs in a task of its own, from
the first request until the app stops.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.metrics import Metrics
from app.mcp.auth import McpGate, metadata_paths, protected_resource_metadata
from app.mcp.auth import token_verifier_for_mcp as mcp_verifier

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

MCP_PATH = "/mcp"


class LazySessions:
    """The SDK's session manager, loaded and started by the first request that needs it."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._manager: StreamableHTTPSessionManager | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def handle_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager or await self._start()
        await manager.handle_request(scope, receive, send)

    async def _start(self) -> "StreamableHTTPSessionManager":
        async with self._lock:
            if self._manager is None:
                from app.mcp.server import session_manager

                manager = session_manager(self._metrics)
                running = asyncio.Event()
                self._runner = asyncio.create_task(self._run(manager, running), name="mcp")
                started = asyncio.create_task(running.wait())
                await asyncio.wait({self._runner, started}, return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                if self._runner.done():
                    self._runner.result()  # its failure, raised here
                self._manager = manager
        return self._manager

    async def _run(self, manager: "StreamableHTTPSessionManager", running: asyncio.Event) -> None:
        async with manager.run():
            running.set()
            await self._stopping.wait()

    @property
    def started(self) -> bool:
        return self._runner is not None and not self._runner.done()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping.set()
            await asyncio.gather(runner, return_exceptions=True)


def mount_mcp(app: FastAPI, settings: Settings) -> None:
    """Serve MCP at /mcp and the protected resource metadata (RFC 9728) next to it, stopped
    with the app. Neither is in the OpenAPI schema."""
    sessions = LazySessions(getattr(app.state, "metrics", None))
    app.state.mcp_sessions = sessions
    gate = McpGate(sessions, settings)
    # An ASGI app as the endpoint: Starlette hands it every method as it is.
    app.add_route(MCP_PATH, cast(Any, gate), include_in_schema=False)
    gate.route = app.router.routes[-1]
    for path in metadata_paths(settings):
        app.add_route(path, protected_resource_metadata, include_in_schema=False)

    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with app_lifespan(application) as state:
            # Derived from the REST verifier once the app has opened it, and sharing its keys.
            gate.verifier = mcp_verifier(app, settings)
            try:
                yield state
            finally:
                await sessions.stop()

    app.router.lifespan_context = lifespan
