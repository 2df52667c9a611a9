import ipaddress

import httpcore
import pytest

from app.webhooks.destinations import (
    CheckedTransport,
    DestinationNotAllowed,
    InvalidWebhookUrl,
    allowed_addresses,
    checked_url,
    is_public_address,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address checked, not bound)
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"]
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "allow_http", "expected"),
    [
        ("https://example.com/hook", False, ("example.com", 443)),
        ("https://example.com:8443/hook?x=1", False, ("example.com", 8443)),
        ("http://example.com/hook", True, ("example.com", 80)),
        ("HTTPS://Example.COM/", False, ("example.com", 443)),
    ],
)
def test_valid_urls(url: str, allow_http: bool, expected: tuple[str, int]) -> None:
    assert checked_url(url, allow_http=allow_http) == expected


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("http://example.com/hook", False),
        ("ftp://example.com/hook", True),
        ("https:///hook", False),
        ("https://user:pw@example.com/", False),
        ("https://example.com/#frag", False),
        ("https://example.com:0x1/", False),
        ("https://exa mple.com/", False),
        ("example.com/hook", False),
    ],
)
def test_invalid_urls(url: str, allow_http: bool) -> None:
    with pytest.raises(InvalidWebhookUrl):
        checked_url(url, allow_http=allow_http)


async def test_a_name_resolving_to_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(DestinationNotAllowed, match="address not allowed"):
        await allowed_addresses("localhost", 443, allow_private=False)
    assert await allowed_addresses("localhost", 443, allow_private=True)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(DestinationNotAllowed, match="does not resolve"):
        await allowed_addresses("host.invalid", 443, allow_private=True)


async def test_the_transport_connects_only_through_the_checked_backend() -> None:
    transport = CheckedTransport(allow_private=False)
    try:
        pool = transport._pool
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        # Never a connection kept for another delivery (each delivery checks again).
        assert pool._max_keepalive_connections == 0
        with pytest.raises(DestinationNotAllowed):
            await pool._network_backend.connect_tcp("127.0.0.1", 1)
    finally:
        await transport.aclose()
