"""Shared-secret mode (HS256 with JWT_SECRET / BETTER_AUTH_SECRET), through HTTP: every token
that cannot be trusted is a 401 with `WWW-Authenticate: Bearer`, and touches no data."""

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.config import Settings
from tests.conftest import TEST_SECRET, ClientFactory, auth, make_token

pytestmark = pytest.mark.anyio


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client


LIST = "/api/v1/alice/tasks"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], alg: str = "none") -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 600, **changes}
    return {key: value for key, value in payload.items() if value is not None}


def rsa_token(payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def assert_401(response: httpx.Response, code: str = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == code
    assert isinstance(response.json()["detail"], str)
    assert response.json()["detail"]


async def assert_nothing_stored(db: asyncpg.Connection) -> None:
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


# Missing or malformed credentials.


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {base64.b64encode(b'alice:secret').decode()}"},
        {"Authorization": f"Token {make_token()}"},
        {"Authorization": make_token()},
        {"X-Access-Token": make_token()},
    ],
    ids=[
        "none",
        "empty",
        "scheme-only",
        "scheme-space",
        "basic",
        "token-scheme",
        "no-scheme",
        "other-header",
    ],
)
async def test_missing_credentials_are_401(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    response = await client.post(LIST, json={"title": "x"}, headers=headers)
    assert_401(response, "not_authenticated")
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        f"{make_token()}x",
        f"x{make_token()}",
        make_token()[:-5],
        f"{b64({'alg': 'HS256'})}.bm90IGpzb24.c2ln",
        jwt.encode({"x": 1}, TEST_SECRET, algorithm="HS256").replace(".", "..", 1),
        f"{b64({'alg': 'HS256'})}.{b64(claims())}.%%%",
        jwt.api_jws.encode(b"[1, 2]", TEST_SECRET, algorithm="HS256"),
        jwt.api_jws.encode(b'"alice"', TEST_SECRET, algorithm="HS256"),
    ],
    ids=[
        "word",
        "two-parts",
        "three-words",
        "four-parts",
        "dots",
        "no-signature",
        "suffixed",
        "prefixed",
        "truncated",
        "payload-not-json",
        "empty-part",
        "bad-base64",
        "payload-list",
        "payload-string",
    ],
)
async def test_malformed_tokens_are_401(
    client: httpx.AsyncClient, db: asyncpg.Connection, token: str
) -> None:
    assert_401(await client.post(LIST, json={"title": "x"}, headers=bearer(token)))
    await assert_nothing_stored(db)


# Signature and algorithm.


async def test_a_wrong_signature_is_401(client: httpx.AsyncClient) -> None:
    token = make_token(secret="another-secret-" + "y" * 40)
    assert_401(await client.get(LIST, headers=bearer(token)))


async def test_a_tampered_payload_is_401(client: httpx.AsyncClient) -> None:
    header, _, signature = make_token("bob").split(".")
    forged = f"{header}.{b64(claims(sub='alice'))}.{signature}"
    assert_401(await client.get(LIST, headers=bearer(forged)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256"])
async def test_unsigned_tokens_are_401(client: httpx.AsyncClient, alg: str) -> None:
    assert_401(await client.get(LIST, headers=bearer(unsigned(claims(), alg))))


# Signed with the server's own secret, which is short for SHA-512 (hence PyJWT's warning):
# only the algorithm is wrong.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_other_hmac_algorithms_with_the_right_secret_are_401(
    client: httpx.AsyncClient, algorithm: str
) -> None:
    assert_401(await client.get(LIST, headers=bearer(make_token(algorithm=algorithm))))


async def test_rs256_tokens_are_401(client: httpx.AsyncClient) -> None:
    assert_401(await client.get(LIST, headers=bearer(rsa_token(claims()))))


@pytest.fixture
async def key_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A local HTTP listener that records every connection made to it."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(1024))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/jwks.json", seen


async def test_keys_named_in_token_headers_are_never_fetched(
    client: httpx.AsyncClient, key_server: tuple[str, list[bytes]]
) -> None:
    url, seen = key_server
    forged = rsa_token(claims(), headers={"jku": url, "x5u": url, "kid": "attacker"})
    assert_401(await client.get(LIST, headers=bearer(forged)))
    hmac_forged = make_token(secret="attacker-secret-" + "z" * 40, headers={"jku": url})
    assert_401(await client.get(LIST, headers=bearer(hmac_forged)))
    # A genuine token that happens to carry the header is verified with the shared secret.
    genuine = make_token(headers={"jku": url, "x5u": url})
    assert (await client.get(LIST, headers=bearer(genuine))).status_code == 200
    await asyncio.sleep(0.05)
    assert seen == []


# Required claims and time.


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
async def test_a_token_without_a_required_claim_is_401(
    client: httpx.AsyncClient, missing: str
) -> None:
    token = jwt.encode(claims(**{missing: None}), TEST_SECRET, algorithm="HS256")
    assert_401(await client.get(LIST, headers=bearer(token)))


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": ""},
        {"sub": 42},
        {"sub": ["alice"]},
        {"sub": "a" * 256},
        {"sub": "ali\u0000ce"},
        {"exp": "soon"},
        {"iat": "now"},
        {"nbf": "later"},
        {"exp": 1e400},
    ],
    ids=[
        "sub-empty",
        "sub-int",
        "sub-list",
        "sub-too-long",
        "sub-nul",
        "exp-str",
        "iat-str",
        "nbf-str",
        "exp-infinite",
    ],
)
async def test_a_token_with_an_unusable_claim_is_401(
    client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    token = jwt.encode(claims(**changes), TEST_SECRET, algorithm="HS256")
    sub = changes.get("sub")
    # The path names the subject where it can, so that only the token can be refused.
    path = f"/api/v1/{sub}/tasks" if sub == "a" * 256 else LIST
    assert_401(await client.get(path, headers=bearer(token)))


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": -45},
        {"exp": -3600, "iat": -7200},
        {"nbf": 45},
        {"nbf": 3600},
        {"iat": 45},
        {"iat": 3600, "exp": 7200},
    ],
    ids=[
        "expired-past-leeway",
        "expired-long-ago",
        "nbf-past-leeway",
        "nbf-future",
        "iat-past-leeway",
        "iat-future",
    ],
)
async def test_tokens_outside_their_validity_are_401(
    client: httpx.AsyncClient, db: asyncpg.Connection, changes: dict[str, int]
) -> None:
    now = int(time.time())
    token = jwt.encode(
        claims(**{key: now + offset for key, offset in changes.items()}),
        TEST_SECRET,
        algorithm="HS256",
    )
    assert_401(await client.post(LIST, json={"title": "x"}, headers=bearer(token)))
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "changes",
    [{"exp": -15}, {"nbf": 15}, {"iat": 15}, {"nbf": -60}],
    ids=["expired-within-leeway", "nbf-within-leeway", "iat-within-leeway", "nbf-past"],
)
async def test_clock_skew_within_30_seconds_is_accepted(
    client: httpx.AsyncClient, changes: dict[str, int]
) -> None:
    now = int(time.time())
    token = jwt.encode(
        claims(**{key: now + offset for key, offset in changes.items()}),
        TEST_SECRET,
        algorithm="HS256",
    )
    response = await client.get(LIST, headers=bearer(token))
    assert response.status_code == 200, response.text


# Issuer and audience.

ISSUER = "https://auth.example.com"
AUDIENCE = "todo-api"


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"iss": ISSUER, "aud": AUDIENCE}, True),
        ({"iss": ISSUER, "aud": ["other", AUDIENCE]}, True),
        ({"aud": AUDIENCE}, False),
        ({"iss": "https://evil.example.com", "aud": AUDIENCE}, False),
        ({"iss": ISSUER.upper(), "aud": AUDIENCE}, False),
        ({"iss": ISSUER}, False),
        ({"iss": ISSUER, "aud": "other"}, False),
        ({"iss": ISSUER, "aud": ["other"]}, False),
    ],
    ids=[
        "both-right",
        "aud-in-list",
        "iss-missing",
        "iss-wrong",
        "iss-case",
        "aud-missing",
        "aud-wrong",
        "aud-list-wrong",
    ],
)
async def test_issuer_and_audience_are_checked_when_configured(
    client_with: ClientFactory, changes: dict[str, Any], accepted: bool
) -> None:
    token = jwt.encode(claims(**changes), TEST_SECRET, algorithm="HS256")
    async with client_with(jwt_issuer=ISSUER, jwt_audience=AUDIENCE) as http:
        response = await http.get(LIST, headers=bearer(token))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_401(response)


async def test_issuer_alone_can_be_required(client_with: ClientFactory) -> None:
    async with client_with(jwt_issuer=ISSUER) as http:
        assert_401(await http.get(LIST, headers=auth()))
        good = await http.get(LIST, headers=auth(iss=ISSUER, aud="anything"))
        assert good.status_code == 200, good.text


async def test_issuer_and_audience_are_ignored_when_not_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(LIST, headers=auth(iss="https://anyone.example", aud="any"))
    assert response.status_code == 200, response.text


# The secret's names.


async def test_better_auth_secret_is_accepted_as_the_secret_name(
    client_with: ClientFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias_secret = "better-auth-secret-" + "b" * 40
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("BETTER_AUTH_SECRET", alias_secret)
    settings = Settings(_env_file=None, app_env="test", database_url=database_url)
    async with client_with(settings) as http:
        ok = await http.get(LIST, headers=bearer(make_token(secret=alias_secret)))
        assert ok.status_code == 200, ok.text
        assert_401(await http.get(LIST, headers=bearer(make_token(secret=TEST_SECRET))))


async def test_every_route_needs_a_token(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    task = f"{LIST}/{uuid.uuid4()}"
    for method, path in [
        ("GET", LIST),
        ("POST", LIST),
        ("GET", task),
        ("PUT", task),
        ("PATCH", task),
        ("PATCH", f"{task}/complete"),
        ("DELETE", task),
    ]:
        assert_401(await client.request(method, path, json={"title": "x"}), "not_authenticated")
        assert_401(await client.request(method, path, headers=bearer("junk")))
    await assert_nothing_stored(db)


async def test_401_comes_before_403(client: httpx.AsyncClient) -> None:
    expired = make_token("mallory", lifetime=-3600)
    assert_401(await client.get(LIST, headers=bearer(expired)))


async def test_a_remembered_token_is_refused_once_it_expires(client_with: ClientFactory) -> None:
    """Verified tokens are remembered, but never past their `exp`."""
    expires_at = int(time.time()) + 2
    token = jwt.encode(claims(exp=expires_at), TEST_SECRET, algorithm="HS256")
    async with client_with(jwt_leeway_seconds=0) as client:
        assert (await client.get(LIST, headers=bearer(token))).status_code == 200
        assert (await client.get(LIST, headers=bearer(token))).status_code == 200
        await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.1)
        assert_401(await client.get(LIST, headers=bearer(token)))
