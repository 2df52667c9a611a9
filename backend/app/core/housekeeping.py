"""Periodic clean-up jobs (retention sweeps) in a stateless, multi-worker deployment.

Every worker runs the loop; each batch runs in its own short transaction that first takes
a transaction-level PostgreSQL advisory lock without waiting, so while one worker sweeps,
the others skip their turn. Transaction-level locks work through a transaction-mode
PgBouncer (Neon's pooler) and can never be left held. Batches keep each transaction, and
the row locks it takes, short.
"""

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from app.core.database import Database, DatabaseUnavailable, PooledConnection, Queries

logger = logging.getLogger("app.housekeeping")

# Arbitrary, fixed: the advisory lock key of the sweep ("todo-hk" in ASCII).
LOCK_KEY = 0x746F646F2D686B
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
BATCH_SIZE = 1000
# Each worker's first sweep comes after a random part of the interval, so that workers
# started together do not all try at once.
_FIRST_RUN_SHARE = (0.1, 1.0)

# One batch of a job, on a connection inside the sweep's transaction: (rows handled,
# whether more may be waiting).
Job = Callable[[Queries, int], Awaitable[tuple[int, bool]]]


@dataclass(frozen=True, slots=True)
class NamedJob:
    name: str
    run: Job


class Housekeeping:
    def __init__(
        self,
        database: Database,
        jobs: Sequence[NamedJob],
        interval_seconds: float,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._database = database
        self._jobs = list(jobs)
        self._interval = interval_seconds
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int] | None:
        """Run every job to completion, batch by batch. Returns the rows each handled, or
        None when another worker holds the lock (it is doing the work)."""
        handled = {job.name: 0 for job in self._jobs}
        for job in self._jobs:
            more = True
            while more:
                batch = await self._database.run(functools.partial(self._batch, job))
                if batch is None:
                    return None
                count, more = batch
                handled[job.name] += count
        return handled

    async def _batch(self, job: NamedJob, conn: PooledConnection) -> tuple[int, bool] | None:
        """One batch in one transaction (so `Database.run` may run it again), or None when
        another worker holds the lock."""
        async with conn.raw.transaction():
            if not await conn.raw.fetchval(_TRY_LOCK, LOCK_KEY):
                return None
            return await job.run(conn.raw, self._batch_size)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._interval > 0 and self._jobs:
            self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        await asyncio.sleep(self._interval * random.uniform(*_FIRST_RUN_SHARE))
        while True:
            try:
                handled = await self.run_once()
            except DatabaseUnavailable as exc:
                logger.warning("housekeeping skipped, database unavailable: %s", exc)
            except Exception:
                # A sweep that fails is retried at the next interval; serving goes on.
                logger.exception("housekeeping failed")
            else:
                if handled and any(handled.values()):
                    logger.info("housekeeping done", extra={"handled": handled})
            await asyncio.sleep(self._interval)
