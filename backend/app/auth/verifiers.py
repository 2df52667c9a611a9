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
