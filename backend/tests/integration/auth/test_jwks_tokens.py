"""JWKS mode through HTTP: which tokens an identity provider's keys make valid, and which never.

The provider is a real local HTTP server publishing Ed25519 (Better Auth's default), P-256 and
RSA keys; the app runs on the real test database."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from app.core.config import Settings
from tests.support.jwks_app import ProviderKeys, bearer, jwks_settings
from tests.support.jwks_server import (
    OMIT,
    JwksServer,
    claims_for,
    ed25519_key,
    hs256_token,
    p256_key,
)

pytestmark = pytest.mark.anyio

# Better Auth user ids are opaque 32-character strings.
BETTER_AUTH_SUB = "Xq3vT9kLmN2pR7sW4yZ8aB6cD1eF5gH0"


@pytest.fixture
def settings(database_url: str, jwks_server: JwksServer) -> Settings:
    """Replaces the shared-secret settings of conftest, so `client` runs in JWKS mode."""
    return jwks_settings(database_url, jwks_server)


async def user_row(db: asyncpg.Connection, sub: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT id, email FROM users WHERE id = $1", sub)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("name", ["ed25519", "p256", "rsa"])
async def test_a_valid_token_of_each_algorithm_is_accepted(
    client: httpx.AsyncClient,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    db: asyncpg.Connection,
    name: str,
) -> None:
    key: Any = getattr(keys, name)
    sub = f"{name}-user"
    token = key.sign(claims_for(jwks_server, sub))

    response = await client.get(f"/api/v1/{sub}/tasks", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert jwt.get_unverified_header(token)["alg"] == key.algorithm
    row = await user_row(db, sub)
    assert row is not None
    assert row["email"] == f"{sub}@example.com"


async def test_a_better_auth_token_works_for_every_route(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    token = keys.ed25519.sign(claims_for(jwks_server, BETTER_AUTH_SUB))
    # What Better Auth's jwt plugin sends: no `typ`, and a JWKS key without `use`.
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": keys.ed25519.kid}
    assert "use" not in keys.ed25519.jwk
    base = f"/api/v1/{BETTER_AUTH_SUB}/tasks"

    created = await client.post(base, json={"title": "Ship it"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    task_url = created.headers["Location"]
    assert (await client.get(task_url, headers=bearer(token))).status_code == 200
    patched = await client.patch(task_url + "/complete", headers=bearer(token))
    assert patched.json()["completed"] is True
    listed = await client.get(base, headers=bearer(token))
    assert listed.json()["total"] == 1
    assert (await client.delete(task_url, headers=bearer(token))).status_code == 204


async def test_the_path_must_name_the_tokens_subject(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    token = keys.ed25519.sign(claims_for(jwks_server, BETTER_AUTH_SUB))

    response = await client.get("/api/v1/someone-else/tasks", headers=bearer(token))

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


ClaimChange = Callable[[JwksServer, int], dict[str, Any]]

REJECTED_CLAIMS: dict[str, ClaimChange] = {
    "wrong issuer": lambda server, now: {"iss": "https://evil.example.com"},
    "wrong audience": lambda server, now: {"aud": "https://another-app.example.com"},
    "no issuer": lambda server, now: {"iss": OMIT},
    "no audience": lambda server, now: {"aud": OMIT},
    "expired": lambda server, now: {"iat": now - 1000, "exp": now - 60},
    "not valid yet": lambda server, now: {"nbf": now + 600},
    "no subject": lambda server, now: {"sub": OMIT},
    "no expiry": lambda server, now: {"exp": OMIT},
    "no issued-at": lambda server, now: {"iat": OMIT},
}


@pytest.mark.parametrize("change", REJECTED_CLAIMS.values(), ids=REJECTED_CLAIMS.keys())
async def test_a_token_with_bad_claims_is_rejected(
    client: httpx.AsyncClient,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    db: asyncpg.Connection,
    change: ClaimChange,
) -> None:
    payload = claims_for(jwks_server, "mallory", **change(jwks_server, int(time.time())))
    token = keys.ed25519.sign(payload)

    response = await client.get("/api/v1/mallory/tasks", headers=bearer(token))

    assert_unauthorized(response)
    assert await user_row(db, "mallory") is None


async def test_a_signature_by_another_key_under_a_published_kid_is_rejected(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    forger = ed25519_key(kid=keys.ed25519.kid)
    token = forger.sign(claims_for(jwks_server, "mallory"))

    response = await client.get("/api/v1/mallory/tasks", headers=bearer(token))

    assert_unauthorized(response)


@pytest.mark.parametrize("name", ["ed25519", "p256", "rsa"])
async def test_hs256_signed_with_the_public_key_is_rejected(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer, name: str
) -> None:
    """The algorithm-confusion attack: a verifier that let the token pick HMAC would check
    this signature with the published key's bytes, which everyone has."""
    key: Any = getattr(keys, name)
    fetched = jwks_server.requests()
    secrets_anyone_has = [key.public_pem(), json.dumps(key.jwk).encode(), key.jwk["kid"].encode()]

    for secret in secrets_anyone_has:
        token = hs256_token(secret, claims_for(jwks_server, "mallory"), {"kid": key.kid})
        response = await client.get("/api/v1/mallory/tasks", headers=bearer(token))
        assert_unauthorized(response)
        assert "algorithm is not accepted" in response.json()["detail"]

    # Rejected on the header alone: no key lookup, no fetch.
    assert jwks_server.requests() == fetched


async def test_an_unsigned_token_is_rejected(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    token = jwt.encode(
        claims_for(jwks_server, "mallory"),
        key="",
        algorithm="none",
        headers={"kid": keys.ed25519.kid},
    )

    response = await client.get("/api/v1/mallory/tasks", headers=bearer(token))

    assert_unauthorized(response)


async def test_a_token_whose_alg_differs_from_its_keys_is_rejected(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    # ES256 is accepted, but the kid names the Ed25519 key: the key decides the algorithm.
    forger = p256_key(kid=keys.ed25519.kid)
    token = forger.sign(claims_for(jwks_server, "mallory"))

    response = await client.get("/api/v1/mallory/tasks", headers=bearer(token))

    assert_unauthorized(response)


async def test_a_token_without_kid_is_rejected_without_a_fetch(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    fetched = jwks_server.requests()
    token = keys.ed25519.sign(claims_for(jwks_server, "alice"), headers={"kid": None})
    assert "kid" not in jwt.get_unverified_header(token)

    response = await client.get("/api/v1/alice/tasks", headers=bearer(token))

    assert_unauthorized(response)
    assert jwks_server.requests() == fetched


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "e30.e30.", ""])
async def test_a_malformed_token_is_rejected(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/v1/alice/tasks", headers=bearer(token))

    assert response.status_code == 401, response.text


async def test_key_location_headers_are_never_followed(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    """jku, x5u, jwk and x5c would let the token bring its own key: they are ignored."""
    with JwksServer() as attacker:
        forger = ed25519_key()
        attacker.publish(forger)
        pointers = {
            "jku": attacker.url,
            "x5u": attacker.base_url + "/cert.pem",
            "jwk": forger.jwk,
            "x5c": ["MIIBfake"],
        }

        forged = forger.sign(claims_for(jwks_server, "mallory"), headers=pointers)
        rejected = await client.get("/api/v1/mallory/tasks", headers=bearer(forged))

        genuine = keys.ed25519.sign(claims_for(jwks_server, "alice"), headers=pointers)
        accepted = await client.get("/api/v1/alice/tasks", headers=bearer(genuine))

        assert_unauthorized(rejected)
        assert accepted.status_code == 200, accepted.text
        assert attacker.total_requests() == 0


async def test_the_user_row_is_created_once_and_its_email_kept_current(
    client: httpx.AsyncClient,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    db: asyncpg.Connection,
) -> None:
    sub = BETTER_AUTH_SUB
    first = keys.rsa.sign(claims_for(jwks_server, sub, email="old@example.com"))
    assert (await client.get(f"/api/v1/{sub}/tasks", headers=bearer(first))).status_code == 200
    row = await user_row(db, sub)
    assert row is not None
    assert row["email"] == "old@example.com"

    changed = keys.ed25519.sign(claims_for(jwks_server, sub, email="new@example.com"))
    assert (await client.get(f"/api/v1/{sub}/tasks", headers=bearer(changed))).status_code == 200

    row = await user_row(db, sub)
    assert row is not None
    assert row["email"] == "new@example.com"
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_concurrent_first_requests_of_a_new_identity_create_one_user(
    client: httpx.AsyncClient,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    db: asyncpg.Connection,
) -> None:
    token = keys.p256.sign(claims_for(jwks_server, BETTER_AUTH_SUB))
    url = f"/api/v1/{BETTER_AUTH_SUB}/tasks"

    responses = await asyncio.gather(*(client.get(url, headers=bearer(token)) for _ in range(12)))

    assert [r.status_code for r in responses] == [200] * 12
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", BETTER_AUTH_SUB) == 1
