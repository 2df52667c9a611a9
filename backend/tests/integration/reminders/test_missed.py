"""A reminder that fell due while no instance was firing is emitted by the first one that
starts (within the grace). Its own module: the served pair of test_served.py fires reminders
for as long as that module runs."""

import asyncio
import time
import uuid

import asyncpg
import pytest

from tests.integration.reminders.conftest import at
from tests.integration.reminders.test_served import api, new_user
from tests.integration.serve.served_app import served_app

pytestmark = pytest.mark.anyio


async def test_a_reminder_due_while_every_instance_was_down_fires_when_one_starts(
    app_database_url: str, database_url: str, db: asyncpg.Connection
) -> None:
    user = new_user()
    settings = {"REMINDER_POLL_SECONDS": "0"}  # an instance that never fires
    with served_app(app_database_url, database_url, **settings) as idle:
        task = await api(
            idle.base_url,
            "POST",
            "/tasks",
            user,
            json={"title": "t", "due_at": at(seconds=1), "reminders": ["PT0S"]},
        )
        await asyncio.sleep(2)
    count = "SELECT count(*) FROM events WHERE type = 'reminder.due' AND task_id = $1"
    assert await db.fetchval(count, uuid.UUID(task["id"])) == 0
    started = time.monotonic()
    with served_app(app_database_url, database_url, REMINDER_POLL_SECONDS="1"):
        while await db.fetchval(count, uuid.UUID(task["id"])) == 0:
            assert time.monotonic() - started < 30, "the missed reminder never fired"
            await asyncio.sleep(0.1)
    assert await db.fetchval(count, uuid.UUID(task["id"])) == 1
