"""Prometheus metrics at `/metrics`: requests and latency by route template and status, requests
refused for overload, and the database pool's usage (observed by app.core.request_middleware).

With several uvicorn workers each process counts its own requests. When PROMETHEUS_MULTIPROC_DIR
names an empty directory (shared by the workers, emptied before each start), prometheus_client
writes every worker's values there and `/metrics` answers with their sums, whichever worker
serves the scrape. Without it, a scrape describes the one worker that answered it.
"""

import os
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

METRICS_PATH = "/metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method a client invents is counted as "other", so that it cannot create series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# In multi-process mode, a worker refreshes its pool gauges at most this often, after a request.
POOL_REFRESH_SECONDS = 1.0

PoolGetter = Callable[[], asyncpg.Pool | None]


def multiprocess_enabled() -> bool:
    # The same test prometheus_client applies when it is imported.
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ


class Metrics:
    """One per app. Label children are cached so that a request costs two dict look-ups and
    two increments, not prometheus_client's label validation."""

    def __init__(self, pool: PoolGetter) -> None:
        self._pool = pool
        self.multiprocess = multiprocess_enabled()
        # In multi-process mode the values live in files and are read back by
        # MultiProcessCollector at scrape time; registering them too would count them twice.
        self._registry = CollectorRegistry(auto_describe=True)
        owner = None if self.multiprocess else self._registry
        labels = ("method", "route", "status")
        self._requests = Counter(
            "http_requests",
            "Requests answered, by route template and status.",
            labels,
            registry=owner,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=owner,
        )

        self._shed = Counter(
            "http_requests_shed",
            "Requests refused with 503 `overloaded` because the worker was at its "
            "admission limit (MAX_EXPECTED_WAIT_MS, MAX_CONCURRENT_REQUESTS).",
            registry=owner,
        )

        def pool_gauge(name: str, documentation: str) -> Gauge:
            # livesum: the sum over live workers, each reporting its own pool.
            return Gauge(name, documentation, registry=owner, multiprocess_mode="livesum")

        self._pool_size = pool_gauge("db_pool_size", "Open connections in the database pool.")
        self._pool_idle = pool_gauge("db_pool_idle", "Open connections not lent to a request.")
        self._pool_in_use = pool_gauge("db_pool_in_use", "Connections lent to requests.")
        self._pool_max = pool_gauge("db_pool_max_size", "The pool's configured maximum size.")
        self._streams = pool_gauge("sse_streams", "Open event streams (GET .../events).")
        self._admission_limit = pool_gauge(
            "http_requests_admission_limit",
            "Requests taken at once before the next is refused with 503 `overloaded` "
            "(MAX_EXPECTED_WAIT_MS, MAX_CONCURRENT_REQUESTS; 0: no bound).",
        )
        # Set by the app once its event hub exists: how many streams this worker holds.
        self.open_streams: Callable[[], int] = lambda: 0
        # Set by the app: how many requests this worker takes at once now (None: no bound).
        self.admission_limit: Callable[[], int | None] = lambda: None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool_refreshed_at = 0.0

    def counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        """A further counter exposed at /metrics with the others (per worker, or summed over
        the workers in multi-process mode)."""
        owner = None if self.multiprocess else self._registry
        return Counter(name, documentation, labels, registry=owner)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = "other"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            values = (method, route, str(status))
            children = (self._requests.labels(*values), self._latency.labels(*values))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self.multiprocess:
            now = time.monotonic()
            if now - self._pool_refreshed_at >= POOL_REFRESH_SECONDS:
                self._pool_refreshed_at = now
                self.refresh_pool_gauges()

    def count_shed(self) -> None:
        self._shed.inc()

    def refresh_pool_gauges(self) -> None:
        self._streams.set(self.open_streams())
        self._admission_limit.set(self.admission_limit() or 0)
        pool = self._pool()
        if pool is None:
            return
        size, idle = pool.get_size(), pool.get_idle_size()
        self._pool_size.set(size)
        self._pool_idle.set(idle)
        self._pool_in_use.set(size - idle)
        self._pool_max.set(pool.get_max_size())

    def exposition(self) -> bytes:
        self.refresh_pool_gauges()
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self._registry)

    async def endpoint(self, _: Request) -> Response:
        return Response(self.exposition(), media_type=CONTENT_TYPE_LATEST)
