"""JWKS mode: tokens signed by an identity provider (Better Auth's jwt plugin, Auth0, Clerk,
Keycloak, ...) with a private key whose public half the provider publishes at JWT_JWKS_URL."""

import copy

import jwt

from app.auth.jwks_cache import JwksKeyCache
from app.auth.tokens import Claims, InvalidToken, claims_from_payload, decode_payload
from app.auth.verified_tokens import VerifiedTokens
from app.core.config import Settings

# Provider key ids are short (Better Auth: 32 characters); a longer one is not worth a lookup.
MAX_KID_LENGTH = 256


class JwksVerifier:
    def __init__(self, settings: Settings) -> None:
        if settings.jwt_jwks_url is None or not settings.jwt_issuer or not settings.jwt_audience:
            raise ValueError("JwksVerifier needs JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE")
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._keys = JwksKeyCache(
            settings.jwt_jwks_url,
            algorithms=settings.jwt_algorithms,
            ttl_seconds=settings.jwt_jwks_cache_ttl_seconds,
            cooldown_seconds=settings.jwt_jwks_cooldown_seconds,
            timeout_seconds=settings.jwt_jwks_timeout_seconds,
        )
        self._verified = VerifiedTokens(settings.jwt_verified_cache_size)

    def for_audience(self, audience: str, verified_cache_size: int) -> "JwksVerifier":
        """The same checks, with the same keys (no fetch of its own), for tokens whose
        audience is another resource of this server. Its memory of verified tokens is its
        own: a token verified for one audience must not pass for the other."""
        other = copy.copy(self)
        other._audience = audience
        other._verified = VerifiedTokens(verified_cache_size)
        return other

    async def open(self) -> None:
        await self._keys.warm_up()

    async def close(self) -> None:
        await self._keys.close()

    async def verify(self, token: str) -> Claims:
        # Read before any fetch: a token verified with a key that a fetch then replaced is
        # stored under the old generation, which only costs a full check next time.
        generation = self._keys.generation
        claims = self._verified.get(token, generation)
        if claims is not None:
            self._keys.refresh_when_stale()
            return claims
        # The header is read unverified only to pick the key. Nothing else in it is trusted:
        # `jku`, `x5u`, `jwk` and `x5c` are never looked at, `typ` is not required (Better Auth
        # sends none), and the algorithm is checked before any key lookup, so an HS256 or
        # "none" token never reaches the cache nor causes a fetch.
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"The token is invalid: {exc}") from exc
        if header.get("alg") not in self._algorithms:
            raise InvalidToken(
                "The token's algorithm is not accepted; expected one of "
                + ", ".join(self._algorithms)
                + "."
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise InvalidToken("The token does not name its signing key (kid).")
        key = await self._keys.key_for(kid)
        # PyJWT also insists that the header's alg is the algorithm the published key is for.
        payload = decode_payload(
            token,
            key,
            algorithms=self._algorithms,
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
        )
        claims = claims_from_payload(payload)
        self._verified.put(token, claims, payload["exp"], generation)
        return claims
