"""The identity provider of the JWKS-mode tests: a real HTTP server publishing the keys."""

from collections.abc import Iterator

import pytest

from tests.support.jwks_app import ProviderKeys
from tests.support.jwks_server import JwksServer, ed25519_key, p256_key, rsa_key


@pytest.fixture(scope="module")
def keys() -> ProviderKeys:
    return ProviderKeys(ed25519_key(), p256_key(), rsa_key())


@pytest.fixture
def jwks_server(keys: ProviderKeys) -> Iterator[JwksServer]:
    with JwksServer(*keys) as server:
        yield server
