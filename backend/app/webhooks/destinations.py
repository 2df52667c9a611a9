"""Where a webhook may be delivered: an `https` URL (or `http` with WEBHOOK_ALLOW_HTTP) whose
host resolves only to public addresses (any, with WEBHOOK_ALLOW_PRIVATE).

The host is checked when an endpoint is registered or its URL changed, and again at every
delivery, inside the connection itself: `CheckedTransport` resolves the host, refuses the
connection when any address is not public, and connects to one of the very addresses it
checked. A name that changes its answer between the check and the connection (DNS
rebinding) therefore cannot lead a delivery to an internal address. Connections are never
kept for reuse, so every delivery resolves and checks again; environment proxies are
ignored (a proxy would make the connection on our behalf, unchecked).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from app.webhooks.fields import ADDRESS_NOT_ALLOWED

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 / 8215):
# the gateway would connect to that IPv4 address.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Resolving a host at registration must not hold the request for long.
RESOLVE_TIMEOUT_SECONDS = 5.0


class InvalidWebhookUrl(ValueError):
    """The URL is not one a webhook may have (the reason is the message)."""


class DestinationNotAllowed(Exception):
    """The host does not resolve, or resolves to an address deliveries may not reach."""


def checked_url(url: str, *, allow_http: bool) -> tuple[str, int]:
    """The URL's host and port, or InvalidWebhookUrl."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"not a valid URL ({exc})") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        allowed = " or ".join(schemes)
        raise InvalidWebhookUrl(f"the URL must start with {allowed}://")
    if not parts.hostname:
        raise InvalidWebhookUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("the URL must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise InvalidWebhookUrl("the URL must not contain a fragment (#...)")
    if any(char.isspace() or ord(char) < 0x20 for char in url):
        raise InvalidWebhookUrl("the URL must not contain spaces or control characters")
    default_port = 443 if parts.scheme.lower() == "https" else 80
    return parts.hostname, port or default_port


def is_public_address(address: IPAddress) -> bool:
    """Whether a delivery may connect to `address`: globally routable, and none of
    loopback, private, shared (CGNAT), link-local, multicast, reserved or unspecified,
    looking through the IPv6 forms that embed an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if any(address in prefix for prefix in _NAT64):
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public_address(address.sixtofour):
            return False
        if address.teredo is not None and not is_public_address(address.teredo[1]):
            return False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _is_public_text(text: str) -> bool:
    try:
        return is_public_address(ipaddress.ip_address(text))
    except ValueError:
        return False


async def allowed_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to, all of them allowed; else DestinationNotAllowed."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationNotAllowed(f"the host does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise DestinationNotAllowed("the host does not resolve")
    if not allow_private and not all(_is_public_text(address) for address in addresses):
        raise DestinationNotAllowed(ADDRESS_NOT_ALLOWED)
    return addresses


async def check_destination(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """At registration: InvalidWebhookUrl or DestinationNotAllowed, or nothing."""
    host, port = checked_url(url, allow_http=allow_http)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            await allowed_addresses(host, port, allow_private=allow_private)
    except TimeoutError:
        raise DestinationNotAllowed("the host did not resolve in time") from None


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connections only to checked addresses of the request's host."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await allowed_addresses(host, port, allow_private=self._allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationNotAllowed("deliveries never use a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, on a connection pool whose connections are made by
    `_CheckedBackend` and never kept for reuse.

    httpx does not take a network backend itself, so its pool (`_pool`) is replaced by an
    httpcore pool built the same way with ours; the unit tests check that this holds.
    """

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(trust_env=False, retries=0)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx's transport no longer keeps its pool in `_pool`")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_CheckedBackend(allow_private=allow_private),
        )
