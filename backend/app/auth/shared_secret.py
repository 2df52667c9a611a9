"""Shared-secret mode: HS256 tokens signed with JWT_SECRET (alias BETTER_AUTH_SECRET)."""

from app.auth.tokens import Claims, claims_from_payload, decode_payload
from app.auth.verified_tokens import VerifiedTokens
from app.core.config import Settings


class SharedSecretVerifier:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_secret()
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._verified = VerifiedTokens(settings.jwt_verified_cache_size)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def verify(self, token: str) -> Claims:
        claims = self._verified.get(token)
        if claims is not None:
            return claims
        payload = decode_payload(
            token,
            self._key,
            algorithms=self._algorithms,
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
        )
        claims = claims_from_payload(payload)
        self._verified.put(token, claims, payload["exp"])
        return claims
