"""The framework floor: the raw-driver ceiling's own request handling (bench/ceiling_app.py:
the same token checks, SQL and JSON) behind FastAPI's routing, request and response objects,
with nothing else: no middleware, no dependency, no validation beyond typed path parameters.

What it costs over the ceiling is what FastAPI itself costs per request on this machine: the
least any app that FastAPI serves can pay. `make bench` measures it in the closed-loop
scenarios of the same run, so the product's distance to the ceiling splits into the framework's
share (ceiling to floor) and the product's own (floor to product).
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from bench.ceiling_app import CeilingApp


def create_app() -> FastAPI:
    ceiling = CeilingApp()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ceiling.open()
        try:
            yield
        finally:
            await ceiling.close()

    app = FastAPI(
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    async def answer(request: Request) -> Response:
        status, payload = await ceiling.answer(request.scope, await request.body())
        return Response(payload, status, media_type="application/json")

    @app.api_route("/api/v1/{user_id}/tasks", methods=["GET", "POST"])
    async def tasks(user_id: str, request: Request) -> Response:
        return await answer(request)

    @app.api_route("/api/v1/{user_id}/tasks/{task_id}", methods=["GET", "PATCH", "DELETE"])
    async def task(user_id: str, task_id: uuid.UUID, request: Request) -> Response:
        return await answer(request)

    @app.patch("/api/v1/{user_id}/tasks/{task_id}/complete")
    async def complete(user_id: str, task_id: uuid.UUID, request: Request) -> Response:
        return await answer(request)

    return app
