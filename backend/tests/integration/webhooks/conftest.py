"""An app that accepts receivers on this machine over http (WEBHOOK_ALLOW_PRIVATE and
WEBHOOK_ALLOW_HTTP) and runs no delivery loop of its own: the tests deliver with
`deliver()`, one round at a time, unless they start a loop themselves."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from app.webhooks.delivery import WebhookDeliverer
from tests.conftest import TEST_SECRET, app_state, auth
from tests.integration.webhooks.receiver import Receiver

WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_allow_http": True,
    "webhook_poll_seconds": 0,
}
Register = Callable[..., Awaitable[dict[str, Any]]]


def webhook_settings(app_database_url: str, database_url: str, **changes: Any) -> Settings:
    return Settings(
        _env_file=None,
        app_env="test",
        database_url=app_database_url,
        database_url_direct=database_url,
        jwt_secret=TEST_SECRET,
        **{**WEBHOOK_SETTINGS, **changes},
    )


@pytest.fixture(scope="module")
async def webhook_app(app_database_url: str, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(webhook_settings(app_database_url, database_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def hooks(webhook_app: FastAPI, clean_database: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=webhook_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def deliverer(
    hooks: httpx.AsyncClient, app_database_url: str, database_url: str
) -> AsyncIterator[WebhookDeliverer]:
    """A delivery loop's rounds, on the app's pool, run by the test (`run_once`)."""
    settings = webhook_settings(app_database_url, database_url)
    worker = WebhookDeliverer(app_state(hooks).database, settings)
    try:
        yield worker
    finally:
        await worker.stop()


@pytest.fixture
def register(hooks: httpx.AsyncClient, receiver: Receiver) -> Register:
    async def create(
        user: str = "alice", events: list[str] | None = None, url: str | None = None
    ) -> dict[str, Any]:
        response = await hooks.post(
            f"/api/v1/{user}/webhooks",
            json={"url": url or receiver.url(), "events": events or ["task.created"]},
            headers=auth(user),
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create


async def create_task(client: httpx.AsyncClient, title: str, user: str = "alice") -> str:
    response = await client.post(f"/api/v1/{user}/tasks", json={"title": title}, headers=auth(user))
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id
