"""One per process: the loop that fires reminders (`reminder.due` events) as they fall due.

Every instance runs it; PostgreSQL decides who fires what (app/reminders/service.py
`fire_due`): an instant is marked handled in the transaction that emits its event, under its
owner's row lock, so it is emitted once however many instances look at the same moment, and
one that was due while every instance was down is handled by the first round after.
"""

import asyncio
import logging
import random

from app.core.database import Database, DatabaseUnavailable
from app.reminders.service import fire_due

logger = logging.getLogger("app.reminders")

# Instants looked at per round; a full round is followed by another at once.
BATCH_SIZE = 500
# After a round that left owners to others (busy writing, or another instance's round had
# them): look again this soon rather than a whole interval later.
_CONTENDED_PAUSE = (0.05, 0.2)
_FAILED_PAUSE = 1.0


class ReminderFiring:
    def __init__(
        self,
        database: Database,
        poll_seconds: float,
        grace_minutes: int,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._database = database
        self._poll = poll_seconds
        self._grace = grace_minutes
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._poll > 0:
            self._task = asyncio.create_task(self._loop(), name="reminder-firing")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        # Instances started together do not all look at the same instant of every second.
        await asyncio.sleep(self._poll * random.random())
        while True:
            pause = self._poll
            try:
                done = await fire_due(self._database, self._grace, self._batch_size)
            except DatabaseUnavailable as exc:
                logger.warning("firing reminders skipped, database unavailable: %s", exc)
                pause = max(self._poll, _FAILED_PAUSE)
            except Exception:
                # Retried at the next round; serving goes on.
                logger.exception("firing reminders failed")
                pause = max(self._poll, _FAILED_PAUSE)
            else:
                if done.emitted or done.skipped:
                    logger.info(
                        "reminders fired",
                        extra={"emitted": done.emitted, "skipped": done.skipped},
                    )
                if done.contended:
                    pause = min(self._poll, random.uniform(*_CONTENDED_PAUSE))
                elif done.full:
                    pause = 0.0
            await asyncio.sleep(pause)
