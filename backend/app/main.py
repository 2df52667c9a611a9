"""The application factory: `create_app()` (served by `python -m app.serve`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.auth.tokens import TokenVerifier
from app.auth.verifiers import token_verifier_for
from app.core.body_limit import BodySizeLimitMiddleware
from app.core.config import Settings, get_settings
from app.core.database import Database
from app.core.embedded import database_url_for
from app.core.errors import install_error_handlers
from app.health.router import router as health_router
from app.tasks.router import router as tasks_router

DESCRIPTION = """
A multi-user Todo API. Every route under `/api/v1/{user_id}` needs
`Authorization: Bearer <JWT>` whose `sub` is `{user_id}`; a task that is not the
caller's is answered exactly like one that does not exist (404).
Errors are JSON: `{"detail": ..., "code": "<stable code>"}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings, database_url_for(settings))
        await database.open()
        app.state.database = database
        verifier: TokenVerifier = app.state.token_verifier
        # JWKS mode fetches the provider's keys here, so first requests need no fetch.
        await verifier.open()
        try:
            yield
        finally:
            await verifier.close()
            await database.close()

    app = FastAPI(
        title="Todo API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.token_verifier = token_verifier_for(settings)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware)
    app.include_router(health_router)
    app.include_router(tasks_router)
    return app
