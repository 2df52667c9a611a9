"""Process-wide logging: JSON lines (or text) on stderr, each carrying the request id of the
request being handled. Called by the app factory, so every server worker process (which
imports the app itself) logs the same way; the server's own lines use the same format
(`server_log_config`)."""

import asyncio
import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from app.core.config import Settings
from app.core.request_id import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# granian's own logger (start, stop, worker life); its access log is off: it would repeat our
# request log, less the user and the id.
SERVER_LOGGER = "_granian"
APP_LOGGER = "app"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (as `logging.lastResort`
    does), never to a stream that was replaced and closed since (test runners do that).

    Lines logged on a running event loop are written together once the loop has run the
    callbacks ready with them: one write per pass of the loop rather than one per line. A
    write per request line was a tenth of a busy worker's CPU (docs/performance.md). Lines
    logged elsewhere (start-up, other threads) are written at once, after any pending ones,
    and `logging.shutdown` writes what is pending at exit."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (logging.Handler.handle).
        try:
            line = self.format(record)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None:
                self._pending.append(line)
                self.flush()
                return
            if not self._pending:
                loop.call_soon(self._flush_pending)
            self._pending.append(line)
        except Exception:
            self.handleError(record)

    def _flush_pending(self) -> None:
        # A stderr that cannot be written to cannot report it either; raising here would only
        # make the event loop log the failure through this handler again.
        with contextlib.suppress(Exception):
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.stream = sys.stderr
            if self._pending:
                lines, self._pending = self._pending, []
                self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records logged while a request is handled (None otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


# What every record has; anything else on a record came through `extra` (or a filter).
_RECORD_ATTRIBUTES = frozenset(
    [*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime", "taskName"]
)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: `level`, `logger`, `message`, the record's extra fields (the
    request id among them), `exc_info` and `stack_info` when there are any, then `time`.

    Written for the request path: python-json-logger's generic formatter, which wrote the
    same lines, took about 10 µs a line, most of a request log line's cost."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        line["time"] = datetime.fromtimestamp(record.created, UTC)
        return orjson.dumps(line, default=str).decode()


_STDERR = (sys.stderr, sys.__stderr__)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonLineFormatter()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    """Idempotent. Reformats the plain stream handlers already installed (the server's, or a
    `logging.basicConfig` one) instead of adding a second copy of every line; adds a stderr
    handler when the root logger has none. Handlers of other kinds (files, pytest's) are
    left alone."""
    # No format here shows a thread or process name: records need not look them up.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    formatter = make_formatter(settings.log_format)
    level = settings.log_level.upper()
    # The level is set on our loggers only: other libraries keep their own (quieter) levels.
    logging.getLogger(APP_LOGGER).setLevel(level)
    root = logging.getLogger()
    for handler in list(root.handlers):
        # A plain handler on stderr (`logging.basicConfig`'s, which `python -m app.serve`
        # installs before forking its workers) becomes ours, which writes in batches.
        if type(handler) is logging.StreamHandler and handler.stream in _STDERR:
            root.removeHandler(handler)
            root.addHandler(StderrHandler())
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
