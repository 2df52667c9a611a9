"""The key cache on its own, against a real local JWKS server: which published keys it will
ever hand out, and that concurrent misses share one fetch."""

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator

import pytest

from app.auth.jwks_cache import JwksKeyCache
from app.auth.tokens import IdentityProviderUnavailable, InvalidToken
from tests.support.jwks_server import JwksServer, ed25519_key, p256_key, rsa_key

pytestmark = pytest.mark.anyio

ED25519 = ed25519_key()
P256 = p256_key()
RSA = rsa_key()
HMAC_JWK = {
    "kty": "oct",
    "kid": "shared-hmac-key",
    "alg": "HS256",
    "k": base64.urlsafe_b64encode(b"s" * 32).rstrip(b"=").decode(),
}


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with JwksServer(ED25519, P256, RSA) as running:
        running.publish(ED25519, P256, RSA, extra=[HMAC_JWK, {"kty": "nonsense", "kid": "x"}])
        yield running


def cache_for(server: JwksServer, algorithms: tuple[str, ...]) -> JwksKeyCache:
    return JwksKeyCache(
        server.url,
        algorithms=algorithms,
        ttl_seconds=300,
        cooldown_seconds=30,
        timeout_seconds=2,
    )


@pytest.fixture
async def cache(server: JwksServer) -> AsyncIterator[JwksKeyCache]:
    keys = cache_for(server, ("EdDSA", "ES256", "RS256"))
    await keys.warm_up()
    yield keys
    await keys.close()


async def test_published_keys_are_found_by_kid(cache: JwksKeyCache, server: JwksServer) -> None:
    for key in (ED25519, P256, RSA):
        found = await cache.key_for(key.kid)
        assert found.algorithm_name == key.algorithm
    assert server.requests() == 1


async def test_a_symmetric_key_in_the_jwks_is_never_handed_out(cache: JwksKeyCache) -> None:
    with pytest.raises(InvalidToken):
        await cache.key_for(HMAC_JWK["kid"])


async def test_keys_for_algorithms_not_accepted_are_left_out(server: JwksServer) -> None:
    keys = cache_for(server, ("EdDSA",))
    await keys.warm_up()
    try:
        assert (await keys.key_for(ED25519.kid)).algorithm_name == "EdDSA"
        with pytest.raises(InvalidToken):
            await keys.key_for(RSA.kid)
    finally:
        await keys.close()


async def test_concurrent_misses_share_a_single_fetch(
    cache: JwksKeyCache, server: JwksServer
) -> None:
    kids = [f"unknown-{n}" for n in range(50)]

    results = await asyncio.gather(*(cache.key_for(kid) for kid in kids), return_exceptions=True)

    assert all(isinstance(result, InvalidToken) for result in results)
    assert server.requests() == 2


async def test_concurrent_first_requests_share_a_single_fetch(server: JwksServer) -> None:
    keys = cache_for(server, ("EdDSA", "ES256", "RS256"))  # no warm-up
    try:
        found = await asyncio.gather(*(keys.key_for(RSA.kid) for _ in range(20)))
    finally:
        await keys.close()

    assert {key.key_id for key in found} == {RSA.kid}
    assert server.requests() == 1


async def test_never_having_keys_is_unavailability_not_an_invalid_token(
    server: JwksServer,
) -> None:
    server.stop()
    keys = cache_for(server, ("EdDSA",))
    await keys.warm_up()
    try:
        with pytest.raises(IdentityProviderUnavailable) as raised:
            await keys.key_for(ED25519.kid)
        assert 1 <= raised.value.retry_after_seconds <= 30
    finally:
        await keys.close()
