"""An app with changed settings, started (lifespan) and wrapped in an in-process client, for
tests that need the app object itself as well as a client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app


@dataclass
class RunningApp:
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def running_app(settings: Settings, **changes: Any) -> AsyncIterator[RunningApp]:
    # Validated like the environment would be (model_copy would skip the validators).
    changed = Settings(_env_file=None, **{**settings.model_dump(), **changes})
    application = create_app(changed)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield RunningApp(application, http)
