"""Reminder tests drive the firing rounds themselves: their app's own loop is off, so that
what fires, and when, is only what a test asks for."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.database import Database
from app.main import create_app
from app.reminders.service import FiringRound, fire_due
from tests.conftest import auth

Json = dict[str, Any]
Fire = Callable[..., Awaitable[FiringRound]]


def at(**delta: float) -> str:
    """An API date-time this far from now (UTC)."""
    return (datetime.now(UTC) + timedelta(**delta)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def app(settings: Settings, clean_database: None) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"reminder_poll_seconds": 0}))
    async with application.router.lifespan_context(application):
        assert not application.state.reminder_firing.running
        yield application


@pytest.fixture
def fire(app: FastAPI) -> Fire:
    """One firing round, as an instance's loop runs it (grace in minutes, default 60)."""
    database: Database = app.state.database

    async def run(grace_minutes: int = 60) -> FiringRound:
        return await fire_due(database, grace_minutes, batch_size=500)

    return run


async def call(
    client: httpx.AsyncClient, method: str, path: str, user: str = "alice", **kwargs: Any
) -> Json:
    response = await client.request(method, f"/api/v1/{user}{path}", headers=auth(user), **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}
