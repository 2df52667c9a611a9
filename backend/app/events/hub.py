"""One per process: the LISTEN connection that wakes this process's event streams when a
change of their owner commits on any instance, and the upkeep of their registrations.

LISTEN needs a session of its own for as long as the process lives, which a transaction-mode
pooler cannot give: it runs on a direct connection (DATABASE_URL_DIRECT, else DATABASE_URL),
outside the pool. If that connection drops it is made again, and every stream is woken to
read what it may have missed meanwhile. The payload of a notification is only the owner's
id: the streams read the events themselves from the outbox, so nothing is lost when a
notification is (a stream also reads at every keep-alive).
"""

import asyncio
import contextlib
import functools
import logging
import signal
import uuid
from types import FrameType
from typing import Any

import asyncpg

from app.core.database import Database, parse_database_url
from app.events.fields import CHANNEL
from app.events.service import renew_streams

logger = logging.getLogger("app.events")

# How the LISTEN connection names itself to PostgreSQL (pg_stat_activity).
LISTEN_APPLICATION_NAME = "todo-backend-listen"
_RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
# How often the LISTEN connection is checked with a round trip (a half-open TCP connection
# would otherwise go unnoticed).
_PROBE_SECONDS = 10.0


class EventHub:
    def __init__(self, database: Database, listen_url: str, lease_seconds: float) -> None:
        self._database = database
        self._dsn = parse_database_url(listen_url).dsn
        self._lease = lease_seconds
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._streams: set[uuid.UUID] = set()
        self._listening = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._conn: asyncpg.Connection | None = None

    # -- streams ---------------------------------------------------------------------------

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    async def ready(self, within_seconds: float) -> bool:
        """Whether the LISTEN is in place (wait up to `within_seconds` for it)."""
        if self._listening.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_seconds):
                await self._listening.wait()
        return self._listening.is_set()

    def subscribe(self, owner_id: str, stream_id: uuid.UUID) -> asyncio.Event:
        """An event set whenever the owner may have new events (or the process is closing)."""
        wake = asyncio.Event()
        self._subscribers.setdefault(owner_id, set()).add(wake)
        self._streams.add(stream_id)
        return wake

    def unsubscribe(self, owner_id: str, stream_id: uuid.UUID, wake: asyncio.Event) -> None:
        self._streams.discard(stream_id)
        waiting = self._subscribers.get(owner_id)
        if waiting is not None:
            waiting.discard(wake)
            if not waiting:
                del self._subscribers[owner_id]

    def _wake(self, owner_id: str | None = None) -> None:
        if owner_id is None:
            groups: Any = self._subscribers.values()
        else:
            groups = [self._subscribers.get(owner_id, ())]
        for group in groups:
            for wake in group:
                wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="events-listen"),
            asyncio.create_task(self._renew(), name="events-renew"),
        ]
        _end_streams_on_sigterm(self)

    def begin_close(self) -> None:
        """Streams end (cleanly, so that clients reconnect elsewhere); none start."""
        self._closing.set()
        self._wake()

    async def stop(self) -> None:
        self.begin_close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=10,
                    server_settings={"application_name": LISTEN_APPLICATION_NAME},
                )
            except Exception as exc:  # whatever it was, try again later
                delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
                attempt += 1
                logger.warning("event LISTEN connection failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                continue
            self._conn = conn
            try:
                conn.add_termination_listener(functools.partial(_set_on_termination, lost))
                await conn.add_listener(CHANNEL, self._notified)
                attempt = 0
                self._listening.set()
                # Anything committed while nobody listened is read now.
                self._wake()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_PROBE_SECONDS):
                            await lost.wait()
                    if not lost.is_set():
                        async with asyncio.timeout(_PROBE_SECONDS):
                            await conn.fetchval("SELECT 1")
            except Exception as exc:  # whatever it was, listen again
                logger.warning("event LISTEN connection lost (%s); reconnecting", exc)
            else:
                logger.warning("event LISTEN connection closed; reconnecting")
            finally:
                self._listening.clear()
                self._conn = None
                conn.terminate()
            await asyncio.sleep(_RECONNECT_DELAYS[0])

    def _notified(self, _conn: Any, _pid: int, _channel: str, owner_id: object) -> None:
        self._wake(str(owner_id))

    async def _renew(self) -> None:
        """Keeps this process's stream registrations alive (their lease lapses if it dies)."""
        while True:
            await asyncio.sleep(self._lease / 3)
            if self._streams:
                try:
                    await renew_streams(self._database, list(self._streams), self._lease)
                except Exception:
                    logger.exception("renewing the event streams' registrations failed")


def _set_on_termination(lost: asyncio.Event, _conn: Any) -> None:
    lost.set()


def _end_streams_on_sigterm(hub: EventHub) -> None:
    """In a served worker, SIGTERM also ends the event streams: the server waits for open
    requests before it stops, and a stream would otherwise hold it for the whole grace period.

    The server's own handler stays in charge: its event loop is woken through the signal
    wake-up fd, whatever Python-level handler is set. Where no handler was installed (a test
    process), nothing is changed.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, signal.SIG_IGN, None):
        return
    loop = asyncio.get_running_loop()

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.begin_close)
        if callable(previous):
            previous(signum, frame)

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)
