"""The application factory: `create_app()` (served by `python -m app.serve`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from app.auth.tokens import TokenVerifier
from app.auth.verifiers import token_verifier_for
from app.core.body_limit import BodySizeLimitMiddleware
from app.core.config import Settings, get_settings
from app.core.cors import add_cors
from app.core.database import Database
from app.core.embedded import database_url_for
from app.core.errors import install_error_handlers
from app.core.logging_config import configure_logging
from app.core.method_not_allowed import install_method_not_allowed_handler
from app.core.metrics import METRICS_PATH, Metrics, MetricsMiddleware
from app.core.rate_limit import RATE_LIMITED_RESPONSES, UserRateLimiter
from app.core.request_log import RequestLogMiddleware
from app.core.security_headers import SecurityHeadersMiddleware
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
    configure_logging(settings)

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
    install_method_not_allowed_handler(app)
    app.state.rate_limiter = UserRateLimiter.from_settings(settings)
    # Listed innermost first: the request log is outermost, so that it times and names every
    # response, including the 413s and CORS preflights answered by the middlewares below it.
    app.add_middleware(BodySizeLimitMiddleware)
    add_cors(app, settings)
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_max_age_seconds=settings.hsts_max_age_seconds
    )
    if settings.metrics_enabled:
        metrics = Metrics(lambda: _open_pool(app))
        app.add_middleware(MetricsMiddleware, metrics=metrics)
        app.add_route(METRICS_PATH, metrics.endpoint, include_in_schema=False)
    app.add_middleware(RequestLogMiddleware)
    app.include_router(health_router)
    # Their dependency `current_user_id` names the caller for the request log and applies the
    # rate limit, both before any route touches the database.
    app.include_router(tasks_router, responses=RATE_LIMITED_RESPONSES)
    return app


def _open_pool(app: FastAPI) -> asyncpg.Pool | None:
    """The pool while the app is serving; None before start-up and after shutdown."""
    database: Database | None = getattr(app.state, "database", None)
    try:
        return database.pool if database is not None else None
    except RuntimeError:
        return None
