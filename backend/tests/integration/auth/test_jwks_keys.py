"""JWKS mode through HTTP: how the provider's keys are fetched, cached, rotated and survive the
provider being down. The JwksServer counts every request it sees, so "at most one refetch"
and "never asked" are checked on the provider's side."""

import asyncio

import anyio
import httpx
import pytest

from app.core.config import Settings
from tests.conftest import ClientFactory
from tests.support.jwks_app import ProviderKeys, bearer, jwks_settings
from tests.support.jwks_server import (
    Behaviour,
    JwksServer,
    SigningKey,
    claims_for,
    ed25519_key,
)

pytestmark = pytest.mark.anyio

# Generous bounds that only catch a hang; the configured timeouts are far shorter.
HANG_GUARD_SECONDS = 20
SUB = "Xq3vT9kLmN2pR7sW4yZ8aB6cD1eF5gH0"
URL = f"/api/v1/{SUB}/tasks"


@pytest.fixture
def settings(database_url: str, jwks_server: JwksServer) -> Settings:
    return jwks_settings(database_url, jwks_server)


def token(server: JwksServer, key: SigningKey, sub: str = SUB) -> dict[str, str]:
    return bearer(key.sign(claims_for(server, sub)))


async def get(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    with anyio.fail_after(HANG_GUARD_SECONDS):
        return await client.get(URL, headers=headers)


async def test_keys_are_fetched_once_at_start_and_then_served_from_memory(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    assert jwks_server.requests() == 1  # the start-up fetch

    for key in (*keys, *keys):
        assert (await get(client, token(jwks_server, key))).status_code == 200

    assert jwks_server.requests() == 1


async def test_a_flood_of_unknown_kids_causes_one_refetch_per_cooldown(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    assert jwks_server.requests() == 1
    bogus = [bearer(ed25519_key().sign(claims_for(jwks_server, SUB))) for _ in range(30)]

    # All at once: one of them refetches, the others wait for it and then get their 401.
    responses = await asyncio.gather(*(get(client, headers) for headers in bogus))
    # And one after another, within the cooldown (30 s by default): no fetch at all.
    responses += [await get(client, headers) for headers in bogus[:5]]

    assert {r.status_code for r in responses} == {401}
    assert {r.json()["code"] for r in responses} == {"invalid_token"}
    assert "kid" in responses[0].json()["detail"]
    assert jwks_server.requests() == 2
    # Known keys are unaffected.
    assert (await get(client, token(jwks_server, keys.rsa))).status_code == 200
    assert jwks_server.requests() == 2


async def test_an_unknown_kid_is_refetched_again_once_the_cooldown_has_passed(
    client_with: ClientFactory, jwks_server: JwksServer
) -> None:
    async with client_with(jwt_jwks_cooldown_seconds=0.5) as client:
        stranger = ed25519_key()
        assert (await get(client, token(jwks_server, stranger))).status_code == 401
        assert (await get(client, token(jwks_server, stranger))).status_code == 401
        assert jwks_server.requests() == 2

        await anyio.sleep(0.6)
        jwks_server.publish(stranger)  # the provider has started using it meanwhile

        assert (await get(client, token(jwks_server, stranger))).status_code == 200
        assert jwks_server.requests() == 3


async def test_a_rotated_key_is_picked_up_without_a_restart(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    old = keys.ed25519
    assert (await get(client, token(jwks_server, old))).status_code == 200

    new = ed25519_key()
    jwks_server.publish(new)  # new key published, every old one removed

    assert (await get(client, token(jwks_server, new))).status_code == 200
    assert jwks_server.requests() == 2
    # The refetched set replaced the old one: keys the provider removed are no longer trusted.
    for removed in keys:
        assert (await get(client, token(jwks_server, removed))).status_code == 401
    assert jwks_server.requests() == 2


async def test_keys_removed_at_the_provider_stop_working_once_the_cache_expires(
    client_with: ClientFactory, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    async with client_with(jwt_jwks_cache_ttl_seconds=0.3) as client:
        assert (await get(client, token(jwks_server, keys.p256))).status_code == 200
        jwks_server.publish(keys.ed25519)
        await anyio.sleep(0.4)

        # The expired set still answers at once, while a refresh runs in the background.
        assert (await get(client, token(jwks_server, keys.p256))).status_code == 200
        with anyio.fail_after(HANG_GUARD_SECONDS):
            while True:
                removed = await get(client, token(jwks_server, keys.p256))
                if removed.status_code != 200:
                    break
                await anyio.sleep(0.05)

        assert removed.status_code == 401
        assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200
        # Start-up, background refresh, and one refetch for the kid that had just vanished.
        assert jwks_server.requests() == 3


async def test_a_remembered_token_stops_working_when_its_key_is_removed(
    client_with: ClientFactory, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    """The very same token string, verified before: remembering it never outlives its key."""
    async with client_with(jwt_jwks_cache_ttl_seconds=0.3) as client:
        same = token(jwks_server, keys.p256)
        assert (await get(client, same)).status_code == 200
        assert (await get(client, same)).status_code == 200
        jwks_server.publish(keys.ed25519)
        await anyio.sleep(0.4)
        with anyio.fail_after(HANG_GUARD_SECONDS):
            while True:
                answer = await get(client, same)
                if answer.status_code != 200:
                    break
                await anyio.sleep(0.05)
        assert answer.status_code == 401


async def test_provider_down_with_a_warm_cache_keeps_serving_known_keys(
    client_with: ClientFactory, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    async with client_with(jwt_jwks_cache_ttl_seconds=0.3) as client:
        assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200
        jwks_server.stop()

        assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200
        # A key it never published: 401, not 503, since keys were fetched before.
        unknown = await get(client, token(jwks_server, ed25519_key()))
        assert unknown.status_code == 401
        assert unknown.json()["code"] == "invalid_token"

        # Past the TTL the refresh fails, and the cached keys are kept rather than dropped.
        await anyio.sleep(0.4)
        for _ in range(3):
            assert (await get(client, token(jwks_server, keys.rsa))).status_code == 200
            await anyio.sleep(0.1)


async def test_a_failing_refresh_is_retried_once_per_cooldown_not_per_request(
    client_with: ClientFactory, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    async with client_with(jwt_jwks_cache_ttl_seconds=0.2) as client:
        jwks_server.behave(Behaviour.ERROR)
        await anyio.sleep(0.3)

        # Every request past the TTL finds the keys stale; one of them starts a refresh.
        for _ in range(5):
            assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200
        with anyio.fail_after(HANG_GUARD_SECONDS):
            while True:
                if jwks_server.requests() >= 2:
                    break
                await anyio.sleep(0.02)
        for _ in range(5):
            assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200
            await anyio.sleep(0.02)

        assert jwks_server.requests() == 2  # start-up, then one failed refresh


async def test_provider_down_from_the_start_answers_503_then_recovers(
    client_with: ClientFactory, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    jwks_server.stop()
    async with client_with(jwt_jwks_cooldown_seconds=0.5) as client:
        first = await get(client, token(jwks_server, keys.ed25519))
        again = await get(client, token(jwks_server, keys.ed25519))

        for response in (first, again):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "identity_provider_unavailable"
            assert int(response.headers["Retry-After"]) >= 1

        jwks_server.start()  # same port
        await anyio.sleep(0.6)

        assert (await get(client, token(jwks_server, keys.ed25519))).status_code == 200


@pytest.mark.parametrize(
    ("behaviour", "fetches"),
    [
        # The start-up fetch, then the first request's refetch; the cooldown stops the rest.
        (Behaviour.ERROR, 2),
        # The start-up fetch is still trickling in its thread (per-read timeouts never fire;
        # only the total timeout stopped the wait), so no second connection is opened.
        (Behaviour.TRICKLE, 1),
    ],
)
async def test_a_provider_that_answers_badly_from_the_start_gives_503(
    client_with: ClientFactory,
    keys: ProviderKeys,
    jwks_server: JwksServer,
    behaviour: Behaviour,
    fetches: int,
) -> None:
    jwks_server.behave(behaviour)
    async with client_with(jwt_jwks_timeout_seconds=0.5) as client:
        response = await get(client, token(jwks_server, keys.ed25519))

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "identity_provider_unavailable"
    assert "Retry-After" in response.headers
    assert jwks_server.requests() == fetches


async def test_a_provider_that_answers_badly_later_leaves_known_keys_working(
    client: httpx.AsyncClient, keys: ProviderKeys, jwks_server: JwksServer
) -> None:
    jwks_server.behave(Behaviour.ERROR)

    assert (await get(client, token(jwks_server, keys.p256))).status_code == 200
    assert (await get(client, token(jwks_server, ed25519_key()))).status_code == 401
