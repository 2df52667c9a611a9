"""Process-wide logging: JSON lines (or text) on stderr, each carrying the request id of the
request being handled. Called by the app factory, so every server worker process (which
imports the app itself) logs the same way; the server's own lines use the same format
(`server_log_config`)."""

import logging
import sys
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter

from app.core.config import Settings
from app.core.request_id import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# granian's own logger (start, stop, worker life); its access log is off: it would repeat our
# request log, less the user and the id.
SERVER_LOGGER = "_granian"
APP_LOGGER = "app"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is logged (as `logging.lastResort`
    does), never to a stream that was replaced and closed since (test runners do that)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records logged while a request is handled (None otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return OrjsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    """Idempotent. Reformats the plain stream handlers already installed (the server's, or a
    `logging.basicConfig` one) instead of adding a second copy of every line; adds a stderr
    handler when the root logger has none. Handlers of other kinds (files, pytest's) are
    left alone."""
    formatter = make_formatter(settings.log_format)
    level = settings.log_level.upper()
    # The level is set on our loggers only: other libraries keep their own (quieter) levels.
    logging.getLogger(APP_LOGGER).setLevel(level)
    root = logging.getLogger()
    stream_handlers = [
        h for h in root.handlers if type(h) in (logging.StreamHandler, StderrHandler)
    ]
    if not stream_handlers:
        stream_handlers = [StderrHandler()]
        root.addHandler(stream_handlers[0])
    for handler in stream_handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def server_log_config(settings: Settings) -> dict[str, Any]:
    """granian's logging, as a dictConfig: its lines in the same format as the app's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "app": {"()": f"{__name__}.make_formatter", "log_format": settings.log_format}
        },
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {
            "stderr": {
                "()": f"{__name__}.StderrHandler",
                "formatter": "app",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            SERVER_LOGGER: {
                "handlers": ["stderr"],
                "level": settings.log_level.upper(),
                "propagate": False,
            }
        },
    }
