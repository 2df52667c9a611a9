"""Registering, reading, changing and removing webhook endpoints: limits, validation, the
address check at registration, and isolation between users."""

from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import ClientFactory, auth
from tests.integration.webhooks.conftest import WEBHOOK_SETTINGS, Register, create_task
from tests.integration.webhooks.receiver import Receiver

pytestmark = pytest.mark.anyio


async def test_register_list_read_change_and_remove(
    hooks: httpx.AsyncClient, receiver: Receiver, db: asyncpg.Connection
) -> None:
    await create_task(hooks, "before registering")
    created = await hooks.post(
        "/api/v1/alice/webhooks",
        json={"url": receiver.url(), "events": ["task.created"], "description": "mine"},
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["secret"].startswith("whsec_")
    Webhook(webhook["secret"])  # a secret the library reads
    assert webhook["url"] == receiver.url()
    assert (webhook["events"], webhook["description"], webhook["enabled"]) == (
        ["task.created"],
        "mine",
        True,
    )
    # Events before registering are not delivered: the cursor starts at the latest one.
    latest = await db.fetchval("SELECT max(id) FROM events WHERE owner_id = 'alice'")
    assert webhook["last_event_id"] == f"evt_{latest}"
    # Nothing is sent when registering.
    assert receiver.requests == []

    listed = await hooks.get("/api/v1/alice/webhooks", headers=auth())
    assert listed.status_code == 200
    [item] = listed.json()["webhooks"]
    assert "secret" not in item
    assert item == {key: value for key, value in webhook.items() if key != "secret"}
    one = await hooks.get(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert one.status_code == 200
    assert "secret" not in one.json()

    changed = await hooks.patch(
        f"/api/v1/alice/webhooks/{webhook['id']}",
        json={
            "url": receiver.url("/other"),
            "events": ["task.updated", "task.deleted"],
            "description": None,
            "enabled": False,
        },
        headers=auth(),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert "secret" not in body
    assert body["url"] == receiver.url("/other")
    assert body["events"] == ["task.updated", "task.deleted"]
    assert (body["description"], body["enabled"]) == (None, False)
    assert body["disabled_at"] is not None

    removed = await hooks.delete(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert removed.status_code == 204
    gone = await hooks.get(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert (gone.status_code, gone.json()["code"]) == (404, "webhook_not_found")
    again = await hooks.delete(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert again.status_code == 404


async def test_at_most_ten_per_user(
    hooks: httpx.AsyncClient, register: Register, db: asyncpg.Connection
) -> None:
    for _ in range(10):
        await register()
    eleventh = await hooks.post(
        "/api/v1/alice/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["task.created"]},
        headers=auth(),
    )
    assert (eleventh.status_code, eleventh.json()["code"]) == (422, "too_many_webhooks")
    assert await db.fetchval("SELECT count(*) FROM webhooks") == 10
    # Another user's limit is their own.
    await register(user="bob")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://127.0.0.1/x", "events": ["task.created"]}, "invalid_webhook_url"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["task.created"]}, "invalid_webhook_url"),
        ({"url": "http:///nohost", "events": ["task.created"]}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:99999/x", "events": ["task.created"]}, "invalid_webhook_url"),
        ({"url": "not a url", "events": ["task.created"]}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1/" + "x" * 2048, "events": ["task.created"]}, "validation_error"),
        ({"url": "http://127.0.0.1/x", "events": []}, "validation_error"),
        ({"url": "http://127.0.0.1/x", "events": ["task.eaten"]}, "validation_error"),
        ({"url": "http://127.0.0.1/x", "events": ["task.created"] * 2}, "validation_error"),
        ({"url": "http://127.0.0.1/x"}, "validation_error"),
        ({"events": ["task.created"]}, "validation_error"),
        ({"url": 5, "events": ["task.created"]}, "validation_error"),
        (
            {"url": "http://127.0.0.1/x", "events": ["task.created"], "description": "d" * 501},
            "validation_error",
        ),
        (
            {"url": "http://127.0.0.1/x", "events": ["task.created"], "enabled": False},
            "validation_error",
        ),
        (
            {"url": "http://127.0.0.1/x", "events": ["task.created"], "secret": "whsec_x"},
            "validation_error",
        ),
    ],
)
async def test_invalid_registrations_are_refused(
    hooks: httpx.AsyncClient, db: asyncpg.Connection, body: dict[str, Any], code: str
) -> None:
    response = await hooks.post("/api/v1/alice/webhooks", json=body, headers=auth())
    assert (response.status_code, response.json()["code"]) == (422, code), response.text
    assert await db.fetchval("SELECT count(*) FROM webhooks") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"url": None},
        {"events": None},
        {"enabled": None},
        {"events": []},
        {"enabled": "yes"},
        {"secret": "whsec_x"},
        {"url": "ftp://127.0.0.1/x"},
    ],
)
async def test_invalid_changes_are_refused(
    hooks: httpx.AsyncClient, register: Register, body: dict[str, Any]
) -> None:
    webhook = await register()
    response = await hooks.patch(
        f"/api/v1/alice/webhooks/{webhook['id']}", json=body, headers=auth()
    )
    assert response.status_code == 422, response.text
    unchanged = await hooks.get(f"/api/v1/alice/webhooks/{webhook['id']}", headers=auth())
    assert unchanged.json() == {k: v for k, v in webhook.items() if k != "secret"}


async def test_https_only_unless_http_is_allowed(client_with: ClientFactory) -> None:
    settings = {**WEBHOOK_SETTINGS, "webhook_allow_http": False}
    async with client_with(**settings) as client:
        plain = await client.post(
            "/api/v1/alice/webhooks",
            json={"url": "http://127.0.0.1/x", "events": ["task.created"]},
            headers=auth(),
        )
        assert (plain.status_code, plain.json()["code"]) == (422, "invalid_webhook_url")
        assert "https" in plain.json()["detail"]
        secure = await client.post(
            "/api/v1/alice/webhooks",
            json={"url": "https://127.0.0.1/x", "events": ["task.created"]},
            headers=auth(),
        )
        assert secure.status_code == 201, secure.text


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/x",
        "https://0.0.0.0/x",
        "https://100.64.0.1/x",
        "https://host.invalid/x",
    ],
)
async def test_private_addresses_are_refused_at_registration(
    client_with: ClientFactory, url: str, db: asyncpg.Connection
) -> None:
    async with client_with(webhook_allow_private=False) as client:
        response = await client.post(
            "/api/v1/alice/webhooks", json={"url": url, "events": ["task.created"]}, headers=auth()
        )
        assert (response.status_code, response.json()["code"]) == (
            422,
            "webhook_url_not_allowed",
        ), response.text
    assert await db.fetchval("SELECT count(*) FROM webhooks") == 0


async def test_a_change_to_a_private_address_is_refused(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    await db.execute("INSERT INTO users (id) VALUES ('alice')")
    await db.execute(
        "INSERT INTO webhooks (id, owner_id, url, events, secret, last_event_id) VALUES "
        "(gen_random_uuid(), 'alice', 'https://example.com/x', '{task.created}', 'whsec_eA==', 0)"
    )
    webhook_id = await db.fetchval("SELECT id FROM webhooks")
    async with client_with(webhook_allow_private=False) as client:
        response = await client.patch(
            f"/api/v1/alice/webhooks/{webhook_id}",
            json={"url": "https://127.0.0.1/x"},
            headers=auth(),
        )
        assert (response.status_code, response.json()["code"]) == (422, "webhook_url_not_allowed")
    assert await db.fetchval("SELECT url FROM webhooks") == "https://example.com/x"


async def test_rotating_the_secret(hooks: httpx.AsyncClient, register: Register) -> None:
    webhook = await register()
    rotated = await hooks.post(
        f"/api/v1/alice/webhooks/{webhook['id']}/rotate-secret", headers=auth()
    )
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret != webhook["secret"]
    # Shown in that answer only.
    listed = await hooks.get("/api/v1/alice/webhooks", headers=auth())
    assert "secret" not in listed.json()["webhooks"][0]


async def test_another_users_endpoints_are_not_found(
    hooks: httpx.AsyncClient, register: Register
) -> None:
    alices = await register()
    bobs = await register(user="bob")
    base = f"/api/v1/bob/webhooks/{alices['id']}"
    as_bob = auth("bob")
    for response in (
        await hooks.get(base, headers=as_bob),
        await hooks.patch(base, json={"enabled": False}, headers=as_bob),
        await hooks.post(f"{base}/rotate-secret", headers=as_bob),
        await hooks.get(f"{base}/deliveries", headers=as_bob),
        await hooks.delete(base, headers=as_bob),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "webhook_not_found")
    listed = await hooks.get("/api/v1/bob/webhooks", headers=as_bob)
    assert [item["id"] for item in listed.json()["webhooks"]] == [bobs["id"]]
    # Alice's endpoint is as it was.
    mine = await hooks.get(f"/api/v1/alice/webhooks/{alices['id']}", headers=auth())
    assert mine.json() == {k: v for k, v in alices.items() if k != "secret"}
    # Another user's path is refused before anything is looked up.
    forbidden = await hooks.get("/api/v1/alice/webhooks", headers=as_bob)
    assert forbidden.status_code == 403
