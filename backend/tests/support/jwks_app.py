"""The application in JWKS mode, pointed at a test JwksServer, served over httpx."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import httpx

from app.core.config import Settings
from app.main import create_app
from tests.support.jwks_server import JwksServer, SigningKey


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
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Like the `client` fixture, for tests that need settings of their own."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
