"""The token verifier the configuration asks for: JWKS mode when JWT_JWKS_URL is set, else the
shared-secret mode. The two never mix (see app.core.config)."""

from app.auth.jwks import JwksVerifier
from app.auth.shared_secret import SharedSecretVerifier
from app.auth.tokens import TokenVerifier
from app.core.config import Settings


def token_verifier_for(settings: Settings) -> TokenVerifier:
    if settings.uses_jwks:
        return JwksVerifier(settings)
    return SharedSecretVerifier(settings)


def verifier_for_audience(
    verifier: TokenVerifier, settings: Settings, audience: str
) -> TokenVerifier:
    """`verifier`'s checks for tokens issued to another resource of this server (the MCP
    endpoint's MCP_RESOURCE_URL): only the required audience differs. JWKS mode only; the
    result shares `verifier`'s keys and is opened and closed with it."""
    if not isinstance(verifier, JwksVerifier):
        raise TypeError(f"audience binding needs a JWKS verifier, not {type(verifier).__name__}")
    return verifier.for_audience(audience, settings.jwt_verified_cache_size)
