"""/mcp as an OAuth 2.1 resource server, and the limits of the API applied to it: plain HTTP
(what a client sees before it has a session), on a served app and on apps configured
otherwise."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from tests.conftest import ClientFactory, app_state, auth, make_token
from tests.integration.mcp.conftest import JSON_RPC_HEADERS, initialize_request, tool_call
from tests.integration.serve.served_app import ServedApp
from tests.support.jwks_app import API_RESOURCE_URL, ProviderKeys, bearer, jwks_settings
from tests.support.jwks_server import JwksServer, claims_for

pytestmark = pytest.mark.anyio

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@pytest.fixture
async def http(served: ServedApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        yield client


async def test_without_a_token_the_answer_is_401_naming_the_resource_metadata(
    served: ServedApp, http: httpx.AsyncClient, clean_database: None
) -> None:
    response = await http.post("/mcp", json=initialize_request(), headers=JSON_RPC_HEADERS)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{served.base_url}{WELL_KNOWN}"'
    )


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {make_token('alice', secret='another-secret-' + 'y' * 40)}",
        f"Bearer {make_token('alice', lifetime=-3600)}",
        "Bearer not-a-jwt",
        f"Basic {make_token('alice')}",
    ],
    ids=["wrong-signature", "expired", "garbage", "not-bearer"],
)
async def test_a_bad_token_is_401_with_the_same_challenge_and_no_data(
    served: ServedApp,
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    clean_database: None,
    authorization: str,
) -> None:
    response = await http.post(
        "/mcp",
        json=tool_call("create_task", {"title": "sneaky"}),
        headers={**JSON_RPC_HEADERS, "Authorization": authorization},
    )

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert challenge.endswith(f'resource_metadata="{served.base_url}{WELL_KNOWN}"')
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_the_protected_resource_metadata_document(
    served: ServedApp, http: httpx.AsyncClient
) -> None:
    response = await http.get(WELL_KNOWN)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # No JWT_ISSUER in this configuration: no authorization server to name.
    assert response.json() == {
        "resource": served.base_url,
        "bearer_methods_supported": ["header"],
        "resource_name": "Todo API (MCP)",
    }


async def test_with_an_issuer_and_a_resource_url_the_metadata_names_both(
    client_with: ClientFactory,
) -> None:
    issuer, resource = "https://auth.todo.test", "https://todo.test/api"
    async with client_with(jwt_issuer=issuer, mcp_resource_url=resource) as client:
        documents = [(await client.get(path)) for path in (WELL_KNOWN, f"{WELL_KNOWN}/api")]
        unauthorised = await client.post(
            "/mcp", json=initialize_request(), headers=JSON_RPC_HEADERS
        )
        schema = (await client.get("/openapi.json")).json()

    for document in documents:
        assert document.status_code == 200
        assert document.json() == {
            "resource": resource,
            "authorization_servers": [issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "Todo API (MCP)",
        }
    # RFC 9728 §3.1: the well-known part goes between the host and the resource's path.
    assert unauthorised.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="https://todo.test{WELL_KNOWN}/api"'
    )
    assert not {path for path in schema["paths"] if "mcp" in path or "well-known" in path}


async def test_the_rate_limit_applies_to_tool_calls(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    async with client_with(rate_limit="2/minute") as client:
        answers = [
            await client.post(
                "/mcp",
                json=tool_call("create_task", {"title": f"task {n}"}, n),
                headers={**JSON_RPC_HEADERS, **auth("alice")},
            )
            for n in range(3)
        ]
        bob = await client.post(
            "/mcp",
            json=tool_call("list_tasks", {}),
            headers={**JSON_RPC_HEADERS, **auth("bob")},
        )

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].json()["result"]["isError"] is False
    assert answers[2].json()["code"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert bob.status_code == 200
    assert await db.fetchval("SELECT count(*) FROM tasks") == 2


async def test_the_body_limit_applies(client_with: ClientFactory, db: asyncpg.Connection) -> None:
    big = tool_call("create_task", {"title": "big", "description": "x" * (1024 * 1024)})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": '
        for _ in range(20):
            yield b" " * 65536
        yield b'"list_tasks"}}'

    async with client_with() as client:
        sized = await client.post("/mcp", json=big, headers={**JSON_RPC_HEADERS, **auth()})
        unsized = await client.post(
            "/mcp", content=chunks(), headers={**JSON_RPC_HEADERS, **auth()}
        )

    for response in (sized, unsized):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_mcp_enabled_false_serves_neither_mcp_nor_its_metadata(
    client_with: ClientFactory,
) -> None:
    async with client_with(mcp_enabled=False) as client:
        mcp = await client.post("/mcp", json=initialize_request(), headers=JSON_RPC_HEADERS)
        metadata = await client.get(WELL_KNOWN)
    assert (mcp.status_code, metadata.status_code) == (404, 404)


async def test_in_jwks_mode_a_token_for_mcp_must_be_issued_to_the_mcp_resource(
    client_with: ClientFactory,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    database_url: str,
) -> None:
    settings: Settings = jwks_settings(database_url, jwks_server)
    for_mcp = keys.ed25519.sign(claims_for(jwks_server, "alice", aud=API_RESOURCE_URL))
    for_rest = keys.ed25519.sign(claims_for(jwks_server, "alice"))
    for_both = keys.ed25519.sign(
        claims_for(jwks_server, "alice", aud=[jwks_server.base_url, API_RESOURCE_URL])
    )

    async with client_with(settings) as client:

        async def mcp(token: str) -> httpx.Response:
            return await client.post(
                "/mcp",
                json=tool_call("list_tasks", {}),
                headers={**JSON_RPC_HEADERS, **bearer(token)},
            )

        async def rest(token: str) -> httpx.Response:
            return await client.get("/api/v1/alice/tasks", headers=bearer(token))

        tokens = (for_mcp, for_rest, for_both)
        # Each endpoint sees every token first after the other has verified it: what one
        # remembers as verified must not open the other.
        mcp_answers = [(await mcp(token)).status_code for token in tokens]
        rest_answers = [(await rest(token)).status_code for token in tokens]
        refused = await mcp(for_rest)
        assert [(await mcp(token)).status_code for token in tokens] == mcp_answers
        metadata = (await client.get(WELL_KNOWN)).json()

    assert mcp_answers == [200, 401, 200]
    # The REST API's own rule is unchanged: its audience, JWT_AUDIENCE.
    assert rest_answers == [401, 200, 200]
    assert refused.json()["code"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"] == (
        f'Bearer error="invalid_token", resource_metadata="{API_RESOURCE_URL}{WELL_KNOWN}"'
    )
    assert metadata["resource"] == API_RESOURCE_URL
    assert metadata["authorization_servers"] == [jwks_server.base_url]


async def test_require_if_match_makes_if_version_required_for_writes(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    async with client_with(require_if_match=True) as client:

        async def call(name: str, arguments: dict[str, object]) -> dict[str, Any]:
            response = await client.post(
                "/mcp", json=tool_call(name, arguments), headers={**JSON_RPC_HEADERS, **auth()}
            )
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()["result"]
            return result

        created = (await call("create_task", {"title": "guarded"}))["structuredContent"]
        refused = await call("complete_task", {"id": created["id"]})
        accepted = await call("complete_task", {"id": created["id"], "if_version": 1})

    assert refused["isError"] is True
    assert refused["structuredContent"]["code"] == "precondition_required"
    assert accepted["isError"] is False
    assert await db.fetchval("SELECT version FROM tasks") == 2


async def test_an_unknown_resource_is_a_protocol_error_not_a_crash(
    client_with: ClientFactory,
) -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "resources/read",
        "params": {"uri": "tasks://everyone"},
    }
    async with client_with() as client:
        response = await client.post("/mcp", json=request, headers={**JSON_RPC_HEADERS, **auth()})
    assert response.status_code == 200
    assert response.json()["error"] == {
        "code": -32002,
        "message": "Resource not found: tasks://everyone",
    }


async def test_the_sdk_starts_on_the_first_requests_and_stops_with_the_app(
    client_with: ClientFactory,
) -> None:
    async with client_with() as client:
        sessions = app_state(client).mcp_sessions
        assert not sessions.started
        responses = await asyncio.gather(
            *(
                client.post(
                    "/mcp", json=initialize_request(), headers={**JSON_RPC_HEADERS, **auth()}
                )
                for _ in range(5)
            )
        )
        assert [response.status_code for response in responses] == [200] * 5
        assert sessions.started
    assert not sessions.started
