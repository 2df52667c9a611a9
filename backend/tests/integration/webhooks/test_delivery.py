"""Deliveries to a real HTTP receiver: signed as Standard Webhooks specifies, filtered by
type, in order per endpoint, retried with the same `webhook-id` after a failure, refused at
delivery for a private address, never following redirects, disabled after failing for
WEBHOOK_DISABLE_AFTER_HOURS, and isolated between users."""

import asyncio
import time
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import app.webhooks.delivery
from app.core.config import Settings
from app.core.database import Database
from app.core.housekeeping import Housekeeping
from app.events.service import event_json
from app.main import retention_jobs
from app.webhooks.delivery import WebhookDeliverer
from tests.conftest import ClientFactory, app_state, auth
from tests.integration.webhooks.conftest import (
    WEBHOOK_SETTINGS,
    Register,
    create_task,
    webhook_settings,
)
from tests.integration.webhooks.receiver import Receiver

pytestmark = pytest.mark.anyio


async def deliveries(client: httpx.AsyncClient, webhook: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/alice/webhooks/{webhook['id']}/deliveries", headers=auth()
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def read(client: httpx.AsyncClient, webhook: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_due(db: asyncpg.Connection) -> None:
    """Skip the wait before the next retry."""
    await db.execute("UPDATE webhooks SET next_attempt_at = now()")


async def test_a_change_reaches_the_receiver_signed(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    webhook = await register(events=["task.created", "task.updated"])
    task_id = await create_task(hooks, "Buy milk")
    assert await deliverer.run_once() == 1
    [request] = await receiver.wait_for(1)
    assert request.path == "/hook"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    # The library's own verification, with the secret given at registration.
    payload = Webhook(webhook["secret"]).verify(request.body, headers)
    assert payload["type"] == "task.created"
    assert payload["id"] == headers["webhook-id"]
    assert payload["data"]["id"] == task_id
    # The body is the event JSON exactly as the outlets send it (the SSE outlet too).
    row = await db.fetchrow(
        "SELECT e.id, e.type, e.created_at, e.change_seq, e.data::text AS data, "
        "u.created_at AS account_created FROM events e JOIN users u ON u.id = e.owner_id "
        "WHERE e.owner_id = 'alice' ORDER BY e.id DESC LIMIT 1"
    )
    assert row is not None
    assert request.body == event_json(row)
    assert headers["webhook-id"] == f"evt_{row['id']}"
    # A wrong secret, or a changed body, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(request.body.replace(b"Buy", b"Sell"), headers)
    # Recorded, and the endpoint moved past the event.
    [attempt] = await deliveries(hooks, webhook)
    assert attempt["event_id"] == headers["webhook-id"]
    assert (attempt["event_type"], attempt["attempt"], attempt["status_code"]) == (
        "task.created",
        1,
        204,
    )
    assert (attempt["error"], attempt["succeeded"]) == (None, True)
    assert (await read(hooks, webhook))["last_event_id"] == headers["webhook-id"]
    assert await deliverer.run_once() == 0


async def test_only_the_chosen_types_are_delivered(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await register(events=["task.deleted"])
    kept = await create_task(hooks, "kept")
    trashed = await create_task(hooks, "trashed")
    await hooks.patch(f"/api/v1/alice/tasks/{kept}", json={"title": "still"}, headers=auth())
    response = await hooks.delete(f"/api/v1/alice/tasks/{trashed}", headers=auth())
    assert response.status_code == 204
    while await deliverer.run_once():
        pass
    assert [orjson.loads(r.body)["type"] for r in receiver.requests] == ["task.deleted"]
    assert orjson.loads(receiver.requests[0].body)["data"]["id"] == trashed


async def test_events_arrive_in_order_and_a_failure_holds_the_line(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    await register()
    titles = [f"task {n}" for n in range(5)]
    for title in titles:
        await create_task(hooks, title)
    receiver.statuses.extend([204, 500])
    assert await deliverer.run_once() == 1  # task 0
    assert await deliverer.run_once() == 1  # task 1 fails
    # Task 2 waits until task 1 is delivered.
    assert await deliverer.run_once() == 0
    assert len(receiver.requests) == 2
    while True:
        await make_due(db)
        if not await deliverer.run_once():
            break
    received = [orjson.loads(r.body)["data"]["title"] for r in receiver.requests]
    assert received == ["task 0", "task 1", "task 1", "task 2", "task 3", "task 4"]
    ids = [int(r.headers["webhook-id"].removeprefix("evt_")) for r in receiver.requests]
    assert ids == sorted(ids)


async def test_a_failed_delivery_is_retried_with_the_same_id(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    app_database_url: str,
    database_url: str,
) -> None:
    webhook = await register()
    await create_task(hooks, "retry me")
    receiver.statuses.extend([500])
    # The loop itself, as a server process runs it: the first retry comes within 10 s.
    settings = webhook_settings(app_database_url, database_url, webhook_poll_seconds=0.1)
    loop = WebhookDeliverer(app_state(hooks).database, settings)
    loop.start()
    try:
        first, second = await receiver.wait_for(2, within=15)
    finally:
        # Lets the delivery in flight record its outcome.
        await loop.stop()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for request in (first, second):
        Webhook(webhook["secret"]).verify(request.body, request.headers)
    retried, failed = await deliveries(hooks, webhook)
    assert (failed["attempt"], failed["status_code"], failed["succeeded"]) == (1, 500, False)
    assert (retried["attempt"], retried["status_code"], retried["succeeded"]) == (2, 204, True)
    waited = _time(retried["created_at"]) - _time(failed["created_at"])
    # 5 s give or take 20%, plus the delivery and the polling.
    assert timedelta(seconds=3.9) <= waited <= timedelta(seconds=10)
    state = await read(hooks, webhook)
    assert state["failing_since"] is None
    assert state["last_event_id"] == first.headers["webhook-id"]


def _time(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_backoff_is_recorded(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    webhook = await register()
    await create_task(hooks, "failing")
    receiver.statuses.extend([500, 503, 502])
    expected = [(5, 6), (300, 360), (1800, 2160)]
    for attempt, (low, high) in enumerate(expected, start=1):
        await make_due(db)
        assert await deliverer.run_once() == 1
        row = await db.fetchrow(
            "SELECT attempt, extract(epoch FROM next_attempt_at - now()) AS wait, "
            "failing_since IS NOT NULL AS failing FROM webhooks"
        )
        assert row is not None
        assert row["attempt"] == attempt
        assert row["failing"]
        assert low * 0.8 - 1 <= row["wait"] <= high, (attempt, row["wait"])
    state = await read(hooks, webhook)
    assert state["enabled"] is True
    assert state["failing_since"] is not None
    assert state["next_attempt_at"] is not None
    attempts = await deliveries(hooks, webhook)
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(3, 502), (2, 503), (1, 500)]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


async def test_an_endpoint_failing_for_a_day_is_disabled_and_can_be_enabled_again(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    webhook = await register()
    await create_task(hooks, "doomed")
    receiver.statuses.extend([500, 500])
    assert await deliverer.run_once() == 1
    # The retries never go past a day of failing: the last one comes then.
    await db.execute("UPDATE webhooks SET failing_since = now() - interval '23 hours 59 minutes'")
    await make_due(db)
    assert await deliverer.run_once() == 1
    cap = await db.fetchval(
        "SELECT next_attempt_at - (failing_since + interval '24 hours') FROM webhooks"
    )
    assert cap <= timedelta(0)
    assert (await read(hooks, webhook))["enabled"] is True
    # A failure once it has been failing for 24 hours disables it.
    await db.execute("UPDATE webhooks SET failing_since = now() - interval '24 hours'")
    await make_due(db)
    receiver.statuses.extend([500])
    assert await deliverer.run_once() == 1
    state = await read(hooks, webhook)
    assert state["enabled"] is False
    assert state["disabled_at"] is not None
    assert "failed deliveries" in state["disabled_reason"]
    assert "HTTP 500" in state["disabled_reason"]
    await make_due(db)
    assert await deliverer.run_once() == 0
    assert len(receiver.requests) == 3
    # Enabled again: failures cleared, the same event tried at once.
    enabled = await hooks.patch(
        f"/api/v1/alice/webhooks/{webhook['id']}", json={"enabled": True}, headers=auth()
    )
    assert enabled.status_code == 200
    body = enabled.json()
    assert (body["enabled"], body["failing_since"], body["disabled_reason"]) == (True, None, None)
    assert await deliverer.run_once() == 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert (await deliveries(hooks, webhook))[0]["succeeded"] is True


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_address_is_refused_at_delivery(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    app_database_url: str,
    database_url: str,
    host: str,
) -> None:
    # Registered while private addresses were allowed; the address is checked again now.
    webhook = await register(url=f"http://{host}:{receiver.port}/hook")
    await create_task(hooks, "secret plans")
    settings = webhook_settings(app_database_url, database_url, webhook_allow_private=False)
    strict = WebhookDeliverer(app_state(hooks).database, settings)
    try:
        assert await strict.run_once() == 1
    finally:
        await strict.stop()
    assert receiver.requests == []
    [attempt] = await deliveries(hooks, webhook)
    assert (attempt["status_code"], attempt["error"]) == (None, "address not allowed")
    state = await read(hooks, webhook)
    assert state["failing_since"] is not None
    assert state["last_event_id"] != f"evt_{(await _latest_event(hooks))}"


async def _latest_event(hooks: httpx.AsyncClient) -> int:
    database: Database = app_state(hooks).database
    async with database.connection() as conn:
        latest: int = await conn.fetchval("SELECT max(id) FROM events")
    return latest


async def test_redirects_are_not_followed(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    webhook = await register()
    await create_task(hooks, "moved")
    receiver.statuses.extend([302])
    assert await deliverer.run_once() == 1
    assert [r.path for r in receiver.requests] == ["/hook"]
    [attempt] = await deliveries(hooks, webhook)
    assert (attempt["status_code"], attempt["error"], attempt["succeeded"]) == (
        302,
        "redirects are not followed",
        False,
    )


async def test_a_receiver_that_does_not_answer_in_time_has_failed(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.webhooks.delivery, "DELIVERY_TIMEOUT_SECONDS", 0.5)
    webhook = await register()
    await create_task(hooks, "slow")
    receiver.holds = 1
    started = time.monotonic()
    assert await deliverer.run_once() == 1
    assert time.monotonic() - started < 5
    [attempt] = await deliveries(hooks, webhook)
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("no answer within")


async def test_receiver_cookies_are_never_sent_back(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    await register()
    await create_task(hooks, "one")
    await create_task(hooks, "two")
    while await deliverer.run_once():
        pass
    assert len(receiver.requests) == 2
    assert all("cookie" not in r.headers for r in receiver.requests)


async def test_another_users_events_and_deliveries_stay_theirs(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    alices = await register(url=receiver.url("/alice"))
    bobs = await register(user="bob", url=receiver.url("/bob"))
    await create_task(hooks, "alice's")
    await create_task(hooks, "bob's", user="bob")
    while await deliverer.run_once():
        pass
    received = sorted((r.path, orjson.loads(r.body)["data"]["title"]) for r in receiver.requests)
    assert received == [("/alice", "alice's"), ("/bob", "bob's")]
    assert len(await deliveries(hooks, alices)) == 1
    as_bob = await hooks.get(f"/api/v1/bob/webhooks/{bobs['id']}/deliveries", headers=auth("bob"))
    assert [d["event_id"] for d in as_bob.json()["deliveries"]] == [
        r.headers["webhook-id"] for r in receiver.requests if r.path == "/bob"
    ]
    theirs = await hooks.get(f"/api/v1/bob/webhooks/{alices['id']}/deliveries", headers=auth("bob"))
    assert theirs.status_code == 404


async def test_only_the_last_hundred_attempts_are_kept(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    webhook = await register()
    await db.execute(
        "INSERT INTO webhook_deliveries (webhook_id, owner_id, event_id, event_type, attempt, "
        "status_code, duration_ms) SELECT $1, 'alice', n, 'task.created', 1, 204, 1 "
        "FROM generate_series(1, 120) AS n",
        webhook["id"],
    )
    await create_task(hooks, "the 121st")
    assert await deliverer.run_once() == 1
    listed = await deliveries(hooks, webhook)
    assert len(listed) == 100
    assert listed[0]["event_id"] == receiver.requests[0].headers["webhook-id"]
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 100
    assert await db.fetchval("SELECT min(event_id) FROM webhook_deliveries") == 22


async def test_events_removed_by_retention_are_passed_over(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    await register()
    for title in ("old", "older", "new"):
        await create_task(hooks, title)
    await db.execute(
        "UPDATE events SET created_at = now() - interval '73 hours' "
        "WHERE data->>'title' IN ('old', 'older')"
    )
    database: Database = app_state(hooks).database
    settings = Settings(_env_file=None, event_retention_hours=72)
    handled = await Housekeeping(database, retention_jobs(settings), 0).run_once()
    assert handled is not None
    assert handled["events"] == 2
    while await deliverer.run_once():
        pass
    assert [orjson.loads(r.body)["data"]["title"] for r in receiver.requests] == ["new"]


async def test_erasure_removes_endpoints_and_deliveries(
    hooks: httpx.AsyncClient,
    register: Register,
    deliverer: WebhookDeliverer,
    db: asyncpg.Connection,
) -> None:
    await register()
    await register(user="bob")
    await create_task(hooks, "alice's")
    await create_task(hooks, "bob's", user="bob")
    while await deliverer.run_once():
        pass
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 2
    erased = await hooks.delete("/api/v1/alice", headers=auth())
    assert erased.status_code == 204
    for table in ("webhooks", "webhook_deliveries", "events"):
        owners = await db.fetch(f"SELECT DISTINCT owner_id FROM {table}")
        assert [row["owner_id"] for row in owners] == ["bob"], table


async def test_the_servers_own_loop_delivers(
    client_with: ClientFactory, receiver: Receiver
) -> None:
    settings = {**WEBHOOK_SETTINGS, "webhook_poll_seconds": 0.1}
    async with client_with(**settings) as client:
        response = await client.post(
            "/api/v1/alice/webhooks",
            json={"url": receiver.url(), "events": ["task.created"]},
            headers=auth(),
        )
        assert response.status_code == 201
        secret = response.json()["secret"]
        await create_task(client, "live")
        [request] = await receiver.wait_for(1, within=10)
        # Counted once the outcome is recorded.
        counted = 'webhook_delivery_attempts_total{outcome="success"} 1.0'
        for _ in range(100):
            if counted in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.05)
        assert counted in (await client.get("/metrics")).text
    assert Webhook(secret).verify(request.body, request.headers)["data"]["title"] == "live"


async def test_a_deliverer_that_lost_its_lease_moves_nothing(
    hooks: httpx.AsyncClient,
    register: Register,
    receiver: Receiver,
    db: asyncpg.Connection,
) -> None:
    from app.webhooks import service

    await register()
    await create_task(hooks, "contested")
    database: Database = app_state(hooks).database
    [stale] = await service.claim_due(database, 5, 0.05)
    await asyncio.sleep(0.1)  # its lease lapses
    [fresh] = await service.claim_due(database, 5, 60)
    assert stale.event["id"] == fresh.event["id"]
    ok = service.Outcome(204, None, 1)
    await service.record_outcome(
        database, stale, ok, retry_in_seconds=5, disable_after_seconds=86400
    )
    assert await db.fetchval("SELECT last_event_id FROM webhooks") < stale.event["id"]
    assert await db.fetchval("SELECT lease_until IS NOT NULL FROM webhooks")
    await service.record_outcome(
        database, fresh, ok, retry_in_seconds=5, disable_after_seconds=86400
    )
    assert await db.fetchval("SELECT last_event_id FROM webhooks") == fresh.event["id"]
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 2
