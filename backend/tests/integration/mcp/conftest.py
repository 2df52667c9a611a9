"""An MCP client session as a given user, on a served app or through plain HTTP."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import make_token
from tests.integration.serve.served_app import ServedApp, served_app
from tests.support.jwks_app import ProviderKeys
from tests.support.jwks_server import JwksServer, ed25519_key, p256_key, rsa_key

# Protocol revision of the plain JSON-RPC requests these tests send without the SDK.
PROTOCOL_VERSION = "2025-11-25"
JSON_RPC_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": PROTOCOL_VERSION,
}


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[ServedApp]:
    with served_app(database_url, database_url) as app:
        yield app


@asynccontextmanager
async def mcp_session(base_url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """The SDK's own client over HTTP, initialised, sending `token` as the bearer token."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as http,
        streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def session_as(app: ServedApp, sub: str) -> AsyncIterator[ClientSession]:
    async with mcp_session(app.base_url, make_token(sub)) as session:
        yield session


def tool_call(name: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    """A tools/call JSON-RPC request, for tests that speak plain HTTP."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def initialize_request() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "tests", "version": "1"},
        },
    }


@pytest.fixture(scope="module")
def keys() -> ProviderKeys:
    return ProviderKeys(ed25519_key(), p256_key(), rsa_key())


@pytest.fixture
def jwks_server(keys: ProviderKeys) -> Iterator[JwksServer]:
    with JwksServer(*keys) as server:
        yield server
