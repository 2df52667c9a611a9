"""How many requests a worker takes at once: load shedding by the wait a new request can expect.

A request that arrives while `n` others are in the worker waits, on average, for the worker to
finish `n` requests (Little's law: wait = requests in flight / requests finished a second). The
worker counts the requests it finishes and, ten times a second, sets its limit to what it
finishes in `MAX_EXPECTED_WAIT_MS`: a request beyond the limit would wait longer than that, so
the request middleware refuses it at once (503 `overloaded`). A fast machine, or cheap requests,
get a higher limit; a slow one a lower one, so the answered requests' latency stays near the
bound whatever the machine.

The rate is the higher of the last 0.2 s's and the last second's: it follows a worker going
from quiet to busy within two ticks, and a short pause (a slow query, a garbage collection)
does not lower the limit. `MIN_LIMIT` keeps a quiet worker, whose rate says nothing of what it
could do, from refusing a burst; `MAX_CONCURRENT_REQUESTS` caps the limit (a worker's memory
grows with the requests it holds).
"""

import asyncio
from collections import deque

MIN_LIMIT = 64
TICK_SECONDS = 0.1
SHORT_TICKS, WINDOW_TICKS = 2, 10  # the rates over the last 0.2 s and the last second


class Admission:
    def __init__(self, max_expected_wait_seconds: float, max_concurrent_requests: int) -> None:
        self.max_wait = max_expected_wait_seconds
        # 0: no cap on the count.
        self.cap = max_concurrent_requests or None
        self.limit = self._bounded(MIN_LIMIT if self.max_wait else None)
        self.finished = 0  # requests finished since start; the middleware counts them
        self._counts: deque[int] = deque([0], maxlen=WINDOW_TICKS + 1)
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.max_wait and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def admits(self, in_flight: int) -> bool:
        """Whether a request is taken when `in_flight` requests (itself included) are in."""
        return self.limit is None or in_flight <= self.limit

    def _bounded(self, limit: int | None) -> int | None:
        if limit is None:
            return self.cap
        return limit if self.cap is None else min(limit, self.cap)

    def update(self) -> None:
        """Sets the limit from the requests finished in the last ticks."""
        if not self.max_wait:
            return
        counts = self._counts
        counts.append(self.finished)
        ticks = len(counts) - 1
        short = min(SHORT_TICKS, ticks)
        per_second = max(
            (counts[-1] - counts[-1 - short]) / (short * TICK_SECONDS),
            (counts[-1] - counts[0]) / (ticks * TICK_SECONDS),
        )
        self.limit = self._bounded(max(MIN_LIMIT, int(per_second * self.max_wait)))

    def _tick(self) -> None:
        self.update()
        self._timer = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)
