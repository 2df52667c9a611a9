"""The MCP SDK's session manager is built and started once, however many first requests
arrive together, and stopped with the app (app.mcp.mount)."""

import asyncio
from typing import Any

import pytest

from app.mcp import server
from app.mcp.mount import LazySessions

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_concurrent_first_requests_start_one_session_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Any] = []
    session_manager = server.session_manager

    def counted(metrics: Any) -> Any:
        manager = session_manager(metrics)
        built.append(manager)
        return manager

    monkeypatch.setattr(server, "session_manager", counted)
    sessions = LazySessions(None)
    started = await asyncio.gather(*(sessions._start() for _ in range(5)))

    assert len(built) == 1
    assert all(manager is built[0] for manager in started)
    assert sessions.started
    await sessions.stop()
    assert not sessions.started
