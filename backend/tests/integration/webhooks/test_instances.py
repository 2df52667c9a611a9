"""Deliveries survive the death of the instance making them: a process killed (SIGKILL)
while the receiver holds its request leaves its claim to lapse, and another instance then
makes the same delivery (same `webhook-id`)."""

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook

from app.webhooks.delivery import WebhookDeliverer
from tests.integration.webhooks.conftest import Register, create_task
from tests.integration.webhooks.receiver import Receiver

pytestmark = pytest.mark.anyio

BACKEND_DIR = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 3.0


async def test_a_delivery_claimed_by_a_killed_process_is_made_by_another(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
    database_url: str,
) -> None:
    webhook = await register()
    await create_task(hooks, "survives")
    receiver.holds = 1
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.webhooks.deliver_process",
        database_url,
        str(LEASE_SECONDS),
        cwd=BACKEND_DIR,
        env={**os.environ, "LOG_LEVEL": "warning"},
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        [held] = await receiver.wait_for(1, within=30)
        # Claimed by the process, which is waiting for the receiver's answer.
        assert await db.fetchval("SELECT lease_until > now() FROM webhooks")
        # While its lease holds, no other instance takes the endpoint.
        assert await deliverer.run_once() == 0
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    killed_at = time.monotonic()
    while not await deliverer.run_once():
        assert time.monotonic() - killed_at < LEASE_SECONDS + 10
        await asyncio.sleep(0.1)
    _, second = await receiver.wait_for(2)
    assert second.headers["webhook-id"] == held.headers["webhook-id"]
    assert second.body == held.body
    Webhook(webhook["secret"]).verify(second.body, second.headers)
    state = await db.fetchrow("SELECT last_event_id, lease_until, attempt FROM webhooks")
    assert state is not None
    assert f"evt_{state['last_event_id']}" == held.headers["webhook-id"]
    assert (state["lease_until"], state["attempt"]) == (None, 0)
    assert await deliverer.run_once() == 0
    assert len(receiver.requests) == 2
