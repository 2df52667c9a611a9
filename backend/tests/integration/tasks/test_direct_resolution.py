"""The task routes' direct resolvers (app.core.direct_routes) answer every request exactly as
FastAPI's declared handlers do: the same requests go to the app as served and to an app
without `DirectDispatch` (every request through FastAPI's router and its declared handlers),
and the answers are compared."""

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.core.config import Settings
from app.core.direct_routes import DirectDispatch
from app.main import create_app
from app.tasks import router as tasks_router
from tests.conftest import auth, make_token

pytestmark = pytest.mark.anyio

# Differ from one answer to the next whatever the route does.
VOLATILE_HEADERS = {"x-request-id", "location", "date", "content-length"}
VOLATILE_FIELDS = {"id", "created_at", "updated_at", "completed_at"}

Case = tuple[str, str, dict[str, str], bytes | None]

JSON = {"Content-Type": "application/json"}
ALICE = auth("alice")
SIMPLE_FORM = "{task_hex}"  # the id without hyphens: pydantic reads it, FastAPI accepts it


def cases() -> list[Case]:
    tasks = "/api/v1/alice/tasks"
    one = tasks + "/{task}"
    expired = {"Authorization": f"Bearer {make_token('alice', lifetime=-60)}"}
    bodies = [
        b'{"title": "Renamed"}',
        b'{"title": ""}',
        b'{"title": "x", "unknown": 1}',
        b'{"completed": "yes"}',
        b"[1, 2]",
        b"null",
        b"{",
        b'{"title": NaN}',
        b'\xef\xbb\xbf{"title": "BOM"}',
        b'{"title": "big", "priority": 1e400}',
        b"",
    ]
    content_types = [
        JSON,
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "APPLICATION/JSON"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/merge-patch+json"},
        {},
    ]
    found: list[Case] = [
        ("GET", tasks, ALICE, None),
        ("GET", tasks + "?limit=2&sort=title", ALICE, None),
        ("GET", tasks + "?limit=0", ALICE, None),
        ("GET", tasks + "?priority=urgent", ALICE, None),
        ("GET", tasks, {}, None),
        ("GET", tasks, expired, None),
        ("GET", tasks, {"Authorization": "Basic abc"}, None),
        ("GET", "/api/v1/bob/tasks", ALICE, None),
        ("GET", one, ALICE, None),
        ("GET", one, {**ALICE, "If-None-Match": '"1"'}, None),
        ("GET", one, {**ALICE, "If-None-Match": "garbage"}, None),
        ("GET", tasks + "/" + SIMPLE_FORM, ALICE, None),
        ("GET", tasks + "/{TASK}", ALICE, None),
        ("GET", tasks + "/urn:uuid:{task}", ALICE, None),
        ("GET", tasks + "/not-a-uuid", ALICE, None),
        ("GET", tasks + "/00000000-0000-0000-0000-000000000000", ALICE, None),
        ("GET", one, auth("bob"), None),
        ("GET", "/api/v1/bob/tasks/{task}", auth("bob"), None),
        ("DELETE", tasks + "/not-a-uuid", ALICE, None),
        ("DELETE", one, {}, None),
        ("DELETE", one, {**ALICE, "If-Match": '"99"'}, None),
        ("PATCH", one + "/complete", {**ALICE, **JSON}, b'{"completed": 1}'),
        ("PATCH", one + "/complete", {**ALICE, **JSON}, b'{"completed": null}'),
        ("PATCH", one + "/complete", {**ALICE, "If-Match": '"7"'}, None),
        ("POST", tasks, {**ALICE, **JSON, "Idempotency-Key": ""}, b'{"title": "k"}'),
        ("POST", tasks, {**JSON}, b'{"title": "no token"}'),
        ("POST", "/api/v1/bob/tasks", {**ALICE, **JSON}, b'{"title": "not mine"}'),
    ]
    for body in bodies:
        for headers in content_types:
            found.append(("POST", tasks, {**ALICE, **headers}, body))
            found.append(("PATCH", one, {**ALICE, **headers}, body))
            found.append(("PATCH", one + "/complete", {**ALICE, **headers}, body))
    # Writes that succeed, last: each app changes its own copy of the task the same way.
    found += [
        ("POST", tasks, {**ALICE, **JSON}, b'{"title": "New", "tags": ["a"], "priority": "high"}'),
        ("POST", tasks, {**ALICE, **JSON, "Idempotency-Key": "k-{app}"}, b'{"title": "Once"}'),
        ("POST", tasks, {**ALICE, **JSON, "Idempotency-Key": "k-{app}"}, b'{"title": "Once"}'),
        ("POST", tasks, {**ALICE, **JSON, "Idempotency-Key": "k-{app}"}, b'{"title": "Other"}'),
        ("PATCH", one, {**ALICE, **JSON, "If-Match": '"1"'}, b'{"title": "Renamed"}'),
        ("PATCH", one, {**ALICE, **JSON, "If-Match": '"1"'}, b'{"title": "Stale"}'),
        ("PATCH", one + "/complete", ALICE, None),
        ("PATCH", one + "/complete", {**ALICE, **JSON}, b'{"completed": false}'),
        ("GET", one, {**ALICE, "If-None-Match": "*"}, None),
        ("DELETE", one, ALICE, None),
        ("GET", one, ALICE, None),
    ]
    return found


@pytest.fixture
async def declared_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    # Before its first request, when the middleware stack is built.
    application.user_middleware = [
        middleware
        for middleware in application.user_middleware
        if cast(object, middleware.cls) is not DirectDispatch
    ]
    async with application.router.lifespan_context(application):
        yield application


def _client(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _comparable(response: httpx.Response, task_id: str) -> tuple[int, dict[str, str], Any]:
    headers = {
        name: value for name, value in response.headers.items() if name not in VOLATILE_HEADERS
    }
    text = response.text.replace(task_id, "{task}").replace(task_id.replace("-", ""), "{hex}")
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return response.status_code, headers, text
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in VOLATILE_FIELDS}
        for item in body.get("tasks", []):
            for key in VOLATILE_FIELDS:
                item.pop(key, None)
    return response.status_code, headers, body


async def test_the_direct_resolvers_answer_as_the_declared_handlers(
    app: FastAPI, declared_app: FastAPI
) -> None:
    async with _client(app) as direct, _client(declared_app) as declared:
        apps = {"direct": direct, "declared": declared}
        task_ids = {}
        for name, http in apps.items():
            response = await http.post("/api/v1/alice/tasks", json={"title": "T"}, headers=ALICE)
            assert response.status_code == 201
            task_ids[name] = response.json()["id"]
        # Case by case, each on both apps, so both see the same tasks (each writes its own).
        answers: dict[str, list[tuple[int, dict[str, str], Any]]] = {"direct": [], "declared": []}
        for method, template, headers, body in cases():
            for name, http in apps.items():
                task_id = task_ids[name]
                path = template.format(
                    task=task_id, TASK=task_id.upper(), task_hex=task_id.replace("-", "")
                )
                # Idempotency keys are per user: each app's requests use their own.
                sent = {key: value.replace("{app}", name) for key, value in headers.items()}
                response = await http.request(method, path, headers=sent, content=body)
                answers[name].append(_comparable(response, task_id))
        for case, got, expected in zip(
            cases(), answers["direct"], answers["declared"], strict=True
        ):
            assert got == expected, case
        # Not a comparison of two identical failures: most cases were answered.
        statuses = {status for status, _, _ in answers["direct"]}
        assert {200, 201, 204, 304, 401, 403, 404, 412, 422} <= statuses


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_most_used_task_routes_are_resolved_directly() -> None:
    resolved = {
        (method, route.path)
        for route in tasks_router.router.routes
        if isinstance(route, APIRoute) and hasattr(route.endpoint, "__direct_resolver__")
        for method in route.methods or ()
    }
    base = "/api/v1/{user_id}/tasks"
    assert resolved == {
        ("GET", base),
        ("POST", base),
        ("GET", base + "/{task_id}"),
        ("PATCH", base + "/{task_id}"),
        ("PATCH", base + "/{task_id}/complete"),
        ("DELETE", base + "/{task_id}"),
    }
