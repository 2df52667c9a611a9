"""Settings for the application in JWKS mode, pointed at a test JwksServer."""

from typing import Any, NamedTuple

from app.core.config import Settings
from tests.support.jwks_server import JwksServer, SigningKey

API_RESOURCE_URL = "https://api.todo.test"


class ProviderKeys(NamedTuple):
    ed25519: SigningKey
    p256: SigningKey
    rsa: SigningKey


def jwks_settings(database_url: str, server: JwksServer, **overrides: Any) -> Settings:
    """Exactly what a Better Auth app at server.base_url needs (issuer = audience = base URL)."""
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "jwt_jwks_url": server.url,
        "jwt_issuer": server.base_url,
        "jwt_audience": server.base_url,
        # The audience of tokens for /mcp (app.mcp): this API, not the provider's app.
        "mcp_resource_url": API_RESOURCE_URL,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
