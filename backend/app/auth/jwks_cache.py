"""The identity provider's public keys, fetched from its JWKS URL and kept in memory.

PyJWT's PyJWKClient does the fetching, parsing and filtering (keys whose `use` is `sig` or
absent, and that have a `kid`). Its own caching is not used, because for a server it has gaps:
an expired key set is dropped before the refetch, so a provider outage after the TTL rejects
every token; its unknown-kid cooldown counts successful fetches only, so a flood of bogus kids
hammers a provider that is down; its per-key LRU cache never expires, so a key the provider has
removed stays trusted; and its fetch is blocking urllib behind a thread lock. Here instead:

- A token whose kid is cached is served from a dict, on the event loop, with no I/O.
- A key set older than the TTL is refreshed in the background while the cached keys keep
  serving; when the refresh fails they are kept (and the refresh retried after the cooldown).
- An unknown kid causes at most one refetch per cooldown, however many requests arrive at
  once: fetches are single-flight behind a lock, and the cooldown starts at the attempt,
  successful or not.
- Every fetch runs in a thread of its own under a total timeout, so a slow provider never
  blocks the event loop nor makes a request hang.
"""

import asyncio
import contextlib
import logging
import math
import threading
import time

from jwt import PyJWK, PyJWKClient

from app.auth.tokens import IdentityProviderUnavailable, InvalidToken

logger = logging.getLogger("app.auth.jwks")

USER_AGENT = "todo-api-jwks/1.0"


class JwksKeyCache:
    def __init__(
        self,
        url: str,
        *,
        algorithms: tuple[str, ...],
        ttl_seconds: float,
        cooldown_seconds: float,
        timeout_seconds: float,
    ) -> None:
        # Some providers' CDNs refuse urllib's default User-Agent.
        self._client = PyJWKClient(
            url,
            cache_jwk_set=False,
            cache_keys=False,
            timeout=timeout_seconds,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._url = url
        self._algorithms = frozenset(algorithms)
        self._ttl = ttl_seconds
        self._cooldown = cooldown_seconds
        self._timeout = timeout_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._refetch_allowed_at = -math.inf
        self._refresh_allowed_at = -math.inf
        self._lock = asyncio.Lock()
        self._refresh_task: asyncio.Task[None] | None = None
        # Set and cleared on the event loop, so it is never raced.
        self._fetch_running = False
        # Advanced whenever a fetch changes the published keys (one added, removed or
        # replaced), so that tokens remembered as verified are checked again (VerifiedTokens).
        self.generation = 0

    async def warm_up(self) -> None:
        """Fetch once at start-up, so the first requests need no fetch. A failure is logged and
        starts no cooldown: the first request can try again (the provider may start later)."""
        async with self._lock:
            await self._fetch()

    async def close(self) -> None:
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def key_for(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            self.refresh_when_stale()
            return key
        return await self._refetch_for(kid)

    def refresh_when_stale(self) -> None:
        """Starts a background refresh when the key set is older than the TTL. Called for
        every token, remembered or not, so that a key removed at the provider stops being
        trusted within the TTL either way."""
        if self._is_stale():
            self._refresh_in_background()

    async def _refetch_for(self, kid: str) -> PyJWK:
        async with self._lock:
            # A request that held the lock before us may have fetched this key already.
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = time.monotonic()
            if now < self._refetch_allowed_at:
                raise self._missing(kid, self._refetch_allowed_at - now)
            self._refetch_allowed_at = now + self._cooldown
            await self._fetch()
            key = self._keys.get(kid)
            if key is None:
                raise self._missing(kid, self._cooldown)
            return key

    def _missing(self, kid: str, retry_after: float) -> Exception:
        if self._fetched_at is None:
            return IdentityProviderUnavailable(max(1, math.ceil(retry_after)))
        return InvalidToken(
            "The token's signing key (kid) is not published by the identity provider."
        )

    def _is_stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._ttl

    def _refresh_in_background(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            return
        now = time.monotonic()
        if now < self._refresh_allowed_at:
            return
        self._refresh_allowed_at = now + self._cooldown
        self._refresh_task = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        async with self._lock:
            if self._is_stale():  # else a refetch for an unknown kid has just done it
                await self._fetch()

    async def _fetch(self) -> None:
        """Replace the cached keys with the provider's current ones; on failure keep them."""
        try:
            # wait_for stops waiting at the timeout even when the provider trickles bytes slowly
            # enough to defeat urllib's per-read timeout; the thread then ends on its own.
            keys = await asyncio.wait_for(self._fetch_in_thread(), timeout=self._timeout)
        except Exception as exc:  # any failure of the provider must end as a 401/503, never a 500
            reason = str(exc) or type(exc).__name__  # wait_for's TimeoutError has no message
            logger.warning("fetching the JWKS from %s failed: %s", self._url, reason)
            return
        usable = {
            key.key_id: key for key in keys if key.key_id and key.algorithm_name in self._algorithms
        }
        if not usable:
            logger.warning(
                "the JWKS at %s publishes no key for the accepted algorithms %s",
                self._url,
                ",".join(sorted(self._algorithms)),
            )
        if _published(usable) != _published(self._keys):
            self.generation += 1
        self._keys = usable
        self._fetched_at = time.monotonic()
        logger.info("fetched %d signing key(s) from %s", len(usable), self._url)

    def _fetch_in_thread(self) -> "asyncio.Future[list[PyJWK]]":
        """PyJWKClient's blocking fetch, in a daemon thread of its own rather than the loop's
        default executor: an abandoned fetch stuck on a trickling provider must not hold up the
        loop's (or the process's) shutdown, which waits for executor threads. At most one such
        thread exists: while a fetch is still running, another attempt fails at once."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[PyJWK]] = loop.create_future()
        if self._fetch_running:
            future.set_exception(TimeoutError("the previous fetch has not finished"))
            return future
        self._fetch_running = True

        def settle(result: list[PyJWK] | None, error: BaseException | None) -> None:
            self._fetch_running = False
            if future.done():  # the caller stopped waiting
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result or [])

        def fetch() -> None:
            result: list[PyJWK] | None = None
            error: BaseException | None = None
            try:
                result = self._client.get_signing_keys()
            except Exception as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=fetch, name="jwks-fetch", daemon=True).start()
        return future


def _published(keys: dict[str, PyJWK]) -> dict[str, object]:
    """What a key set says: each key id with the JWK it was parsed from."""
    return {kid: getattr(key, "_jwk_data", key) for kid, key in keys.items()}
