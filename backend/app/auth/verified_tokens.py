"""Tokens this process has already verified, so that a client's next request with the same
token costs a dictionary look-up instead of PyJWT's full decode (about a tenth of a request's
CPU time).

An entry is the exact token string, its claims, its `exp` and the generation of the keys it was
verified with. It is used only while the token has not expired (without the leeway PyJWT
allows, so never longer than a full check would accept it) and while the key set is the same
generation (JWKS mode bumps the generation when the provider's published keys change, so a
rotated-out key stops being trusted at once). Anything that fails verification is never stored.
The checks that depend on the request (path user, rate limit) run on every request anyway.
"""

import time

from cachetools import LRUCache

from app.auth.tokens import Claims

Entry = tuple[Claims, float, int]


class VerifiedTokens:
    def __init__(self, max_size: int) -> None:
        self._entries: LRUCache[str, Entry] | None = LRUCache(max_size) if max_size else None

    def get(self, token: str, generation: int = 0) -> Claims | None:
        if self._entries is None:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims, expires_at, verified_generation = entry
        if verified_generation != generation or time.time() >= expires_at:
            self._entries.pop(token, None)
            return None
        return claims

    def put(self, token: str, claims: Claims, expires_at: float, generation: int = 0) -> None:
        if self._entries is not None:
            self._entries[token] = (claims, expires_at, generation)
