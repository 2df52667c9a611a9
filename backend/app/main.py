"""The application factory: `create_app()` (served by `python -m app.serve`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from app.account.router import router as account_router
from app.auth.tokens import TokenVerifier
from app.auth.verifiers import token_verifier_for
from app.batch.router import router as batch_router
from app.core.admission import Admission
from app.core.config import Settings, get_settings
from app.core.cors import cors_wrapper
from app.core.database import Database
from app.core.direct_routes import DirectDispatch
from app.core.embedded import database_url_for
from app.core.errors import install_error_handlers
from app.core.housekeeping import Housekeeping, NamedJob
from app.core.logging_config import configure_logging
from app.core.method_not_allowed import install_method_not_allowed_handler
from app.core.metrics import METRICS_PATH, Metrics
from app.core.rate_limit import RATE_LIMITED_RESPONSES, UserRateLimiter
from app.core.request_middleware import RequestMiddleware
from app.events.hub import EventHub
from app.events.router import STREAM_LEASE_SECONDS
from app.events.router import router as events_router
from app.events.service import purge_expired_events, purge_expired_streams
from app.health.router import router as health_router
from app.idempotency.service import purge_expired_keys
from app.mcp.mount import mount_mcp
from app.reminders.firing import ReminderFiring
from app.reminders.router import router as reminders_router
from app.reminders.service import purge_handled_instants
from app.sync.router import router as sync_router
from app.sync.service import purge_expired_tombstones
from app.tasks.router import router as tasks_router
from app.trash.router import router as trash_router
from app.trash.service import purge_expired_trash
from app.webhooks.delivery import WebhookDeliverer
from app.webhooks.router import router as webhooks_router

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
        database_url = database_url_for(settings)
        database = Database(settings, database_url)
        await database.open()
        app.state.database = database
        # LISTEN needs a session of its own: the direct URL, never a transaction pooler's.
        event_hub = EventHub(
            database,
            settings.database_url_direct or database_url,
            STREAM_LEASE_SECONDS,
        )
        app.state.event_hub = event_hub
        event_hub.start()
        if metrics is not None:
            metrics.open_streams = lambda: event_hub.stream_count
        verifier: TokenVerifier = app.state.token_verifier
        # JWKS mode fetches the provider's keys here, so first requests need no fetch.
        await verifier.open()
        housekeeping = Housekeeping(
            database, retention_jobs(settings), settings.housekeeping_interval_seconds
        )
        app.state.housekeeping = housekeeping
        housekeeping.start()
        reminder_firing = ReminderFiring(
            database, settings.reminder_poll_seconds, settings.reminder_grace_minutes
        )
        app.state.reminder_firing = reminder_firing
        reminder_firing.start()
        deliverer = WebhookDeliverer(database, settings, attempts=delivery_attempts)
        app.state.webhook_deliverer = deliverer
        deliverer.start()
        admission.start()
        try:
            yield
        finally:
            admission.stop()
            await deliverer.stop()
            await reminder_firing.stop()
            await housekeeping.stop()
            await event_hub.stop()
            await verifier.close()
            await database.close()

    app = FastAPI(
        title="Todo API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry instrumentation is off: the API has its own request
        # log and Prometheus metrics, and the instrumentation looked up the global OpenTelemetry
        # providers on every request (about a twentieth of a request's CPU in the framework).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.token_verifier = token_verifier_for(settings)
    install_error_handlers(app)
    install_method_not_allowed_handler(app)
    app.state.rate_limiter = UserRateLimiter.from_settings(settings)
    # Innermost, in front of the router: the directly resolved task routes skip it.
    app.add_middleware(DirectDispatch, router=app.router, exception_handlers=app.exception_handlers)
    # CORS (when configured) inside the request middleware, which logs, times and adds the
    # security headers to every response, preflights included, and whose own refusals (413,
    # 503) go through CORS too.
    wrap_cors = cors_wrapper(settings)
    if wrap_cors is not None:
        app.add_middleware(wrap_cors)
    metrics = Metrics(lambda: _open_pool(app)) if settings.metrics_enabled else None
    if metrics is not None:
        app.add_route(METRICS_PATH, metrics.endpoint, include_in_schema=False)
        app.state.metrics = metrics
    delivery_attempts = (
        metrics.counter(
            "webhook_delivery_attempts",
            "Webhook delivery attempts, by outcome (success, http_error, redirect, timeout, "
            "connection_error, address_not_allowed).",
            ("outcome",),
        )
        if metrics is not None
        else None
    )
    admission = Admission(settings.max_expected_wait_ms / 1000, settings.max_concurrent_requests)
    if metrics is not None:
        metrics.admission_limit = lambda: admission.limit
    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        hsts_max_age_seconds=settings.hsts_max_age_seconds,
        admission=admission,
        wrap_refusals=wrap_cors,
    )
    app.include_router(health_router)
    # Their dependency `current_user_id` names the caller for the request log and applies the
    # rate limit, both before any route touches the database. Routes with a fixed segment
    # after /tasks (/tasks/trash, /tasks/changes, /tasks/batch) come before /tasks/{task_id}.
    for router in (
        sync_router,
        trash_router,
        batch_router,
        tasks_router,
        account_router,
        reminders_router,
        events_router,
        webhooks_router,
    ):
        app.include_router(router, responses=RATE_LIMITED_RESPONSES)
    if settings.mcp_enabled:
        mount_mcp(app, settings)
    return app


def retention_jobs(settings: Settings) -> list[NamedJob]:
    """The sweep: expired trash first, then expired tombstones, idempotency keys, events,
    the registrations of streams whose instance died, and reminder instants handled long
    ago."""
    trash_days, tombstone_days = settings.trash_retention_days, settings.tombstone_retention_days
    return [
        NamedJob("trash", lambda conn, batch: purge_expired_trash(conn, trash_days, batch)),
        NamedJob(
            "tombstones",
            lambda conn, batch: purge_expired_tombstones(conn, tombstone_days, batch),
        ),
        NamedJob("idempotency_keys", purge_expired_keys),
        NamedJob(
            "events",
            lambda conn, batch: purge_expired_events(conn, settings.event_retention_hours, batch),
        ),
        NamedJob("event_streams", purge_expired_streams),
        NamedJob(
            "reminder_schedule",
            lambda conn, batch: purge_handled_instants(
                conn, settings.event_retention_hours, settings.reminder_grace_minutes, batch
            ),
        ),
    ]


def _open_pool(app: FastAPI) -> asyncpg.Pool | None:
    """The pool while the app is serving; None before start-up and after shutdown."""
    database: Database | None = getattr(app.state, "database", None)
    try:
        return database.pool if database is not None else None
    except RuntimeError:
        return None
