"""The published OpenAPI document describes the contract, and the API keeps to it: every route
and status of the contract is documented with its schema, and real responses validate."""

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import ClientFactory, auth

TASKS = "/api/v1/{user_id}/tasks"
TASK = "/api/v1/{user_id}/tasks/{task_id}"
COMPLETE = "/api/v1/{user_id}/tasks/{task_id}/complete"
TRASH = "/api/v1/{user_id}/tasks/trash"
TRASHED = "/api/v1/{user_id}/tasks/trash/{task_id}"
RESTORE = "/api/v1/{user_id}/tasks/{task_id}/restore"
CHANGES = "/api/v1/{user_id}/tasks/changes"
ACCOUNT = "/api/v1/{user_id}"
EXPORT = "/api/v1/{user_id}/export"
BATCH = "/api/v1/{user_id}/tasks/batch"
REMINDERS = "/api/v1/{user_id}/reminders"
AUTHED = {401, 403, 422, 503}
# The writes to an existing task take If-Match.
CONDITIONAL = {412, 428}

# (method, path) -> (success status, success schema, error statuses), from the contract.
CONTRACT: dict[tuple[str, str], tuple[int, str | None, set[int]]] = {
    ("get", TASKS): (200, "TaskList", AUTHED),
    ("post", TASKS): (201, "TaskPublic", AUTHED | {409, 413}),
    ("post", BATCH): (200, "BatchResults", AUTHED | {409, 413}),
    ("get", TASK): (200, "TaskPublic", AUTHED | {404}),
    ("put", TASK): (200, "TaskPublic", AUTHED | CONDITIONAL | {404, 409, 413}),
    ("patch", TASK): (200, "TaskPublic", AUTHED | CONDITIONAL | {404, 409, 413}),
    ("patch", COMPLETE): (200, "TaskPublic", AUTHED | CONDITIONAL | {404, 409, 413}),
    ("delete", TASK): (204, None, AUTHED | CONDITIONAL | {404}),
    ("get", TRASH): (200, "TrashList", AUTHED),
    ("delete", TRASHED): (204, None, AUTHED | {404}),
    ("post", RESTORE): (200, "TaskPublic", AUTHED | {404}),
    ("get", CHANGES): (200, "ChangeFeed", AUTHED | {410}),
    ("get", EXPORT): (200, "AccountExport", AUTHED),
    ("delete", ACCOUNT): (204, None, AUTHED),
    ("get", REMINDERS): (200, "ReminderList", AUTHED),
    ("get", "/healthz"): (200, None, set()),
    ("get", "/readyz"): (200, None, {503}),
}
REQUEST_BODIES = {
    ("post", TASKS): ("TaskCreate", True),
    ("post", BATCH): ("BatchRequest", True),
    ("put", TASK): ("TaskReplace", True),
    ("patch", TASK): ("TaskUpdate", True),
    ("patch", COMPLETE): ("TaskCompletion", False),
}
EXPLICIT_UTC_OFFSET = re.compile(r"(Z|[+-]00:00)$")

pytestmark = pytest.mark.anyio


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client


Document = dict[str, Any]


@pytest.fixture
def openapi(settings: Settings) -> Document:
    # Building the document needs no database: the app's lifespan is not entered.
    return create_app(settings).openapi()


def schema_ref(response: Document) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    return None if ref is None else str(ref).rsplit("/", 1)[-1]


def is_error_schema(openapi: Document, name: str | None) -> bool:
    """ErrorBody, or a schema that extends it (the batch's 409 adds `results`)."""
    if name == "ErrorBody":
        return True
    schema = openapi["components"]["schemas"].get(name or "", {})
    return {"detail", "code"} <= set(schema.get("required", ())) and schema["properties"][
        "code"
    ] == {"type": "string", "title": "Code"}


def operations(openapi: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_route_of_the_contract_is_published(openapi: Document) -> None:
    published = {(method, path) for method, path, _ in operations(openapi)}
    assert set(CONTRACT) <= published


@pytest.mark.parametrize(("method", "path"), CONTRACT)
def test_every_status_is_documented_with_its_schema(
    openapi: Document, method: str, path: str
) -> None:
    success, schema, errors = CONTRACT[method, path]
    responses = openapi["paths"][path][method]["responses"]
    assert str(success) in responses
    if schema is not None:
        assert schema_ref(responses[str(success)]) == schema
    if success == 204:
        assert "content" not in responses["204"]
    else:
        assert "application/json" in responses[str(success)]["content"]
    for status in errors:
        assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
        assert is_error_schema(openapi, schema_ref(responses[str(status)])), (method, path, status)
        assert responses[str(status)]["description"]


def test_every_documented_error_has_the_error_shape(openapi: Document) -> None:
    for method, path, operation in operations(openapi):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert is_error_schema(openapi, schema_ref(response)), (method, path, status)
    error = openapi["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"detail", "code"}
    assert error["properties"]["code"] == {"type": "string", "title": "Code"}
    detail_types = {option["type"] for option in error["properties"]["detail"]["anyOf"]}
    assert detail_types == {"string", "array"}


def test_the_task_schema(openapi: Document) -> None:
    task = openapi["components"]["schemas"]["TaskPublic"]
    fields = {
        "id",
        "title",
        "description",
        "completed",
        "completed_at",
        "priority",
        "due_at",
        "tags",
        "recurrence",
        "time_zone",
        "reminders",
        "series_id",
        "next_id",
        "version",
        "owner_id",
        "created_at",
        "updated_at",
    }
    assert set(task["required"]) == fields
    assert set(task["properties"]) == fields
    properties = task["properties"]
    assert properties["id"]["format"] == "uuid"
    assert properties["created_at"]["format"] == "date-time"
    assert properties["updated_at"]["format"] == "date-time"
    assert properties["completed"]["type"] == "boolean"
    assert {o["type"] for o in properties["description"]["anyOf"]} == {"string", "null"}
    for name in ("series_id", "next_id"):
        assert {"type": "string", "format": "uuid"} in properties[name]["anyOf"]
        assert "Read-only" in properties[name]["description"]
    assert properties["reminders"]["items"] == {"type": "string"}
    envelope = openapi["components"]["schemas"]["TaskList"]
    assert set(envelope["required"]) == {"tasks", "total", "limit", "offset"}


@pytest.mark.parametrize(("method", "path"), REQUEST_BODIES)
def test_request_bodies_are_their_own_closed_schemas(
    openapi: Document, method: str, path: str
) -> None:
    name, required = REQUEST_BODIES[method, path]
    body = openapi["paths"][path][method]["requestBody"]
    assert bool(body.get("required")) is required
    assert schema_ref(body) == name or name in str(body["content"]["application/json"])
    schema = openapi["components"]["schemas"][name]
    assert schema["additionalProperties"] is False
    assert not {"id", "owner_id", "created_at", "updated_at"} & set(schema["properties"])


def test_title_and_description_limits_are_published(openapi: Document) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["TaskCreate"]["required"] == ["title"]
    assert "255" in schemas["TaskCreate"]["properties"]["title"]["description"]
    description = schemas["TaskCreate"]["properties"]["description"]["anyOf"][0]
    assert description["maxLength"] == 2000


def test_list_parameters_are_published_with_their_bounds(openapi: Document) -> None:
    parameters = {p["name"]: p for p in openapi["paths"][TASKS]["get"]["parameters"]}
    assert parameters["limit"]["schema"] | {"title": None} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 50,
        "title": None,
    }
    assert parameters["offset"]["schema"]["minimum"] == 0
    assert parameters["offset"]["schema"]["default"] == 0
    assert parameters["offset"]["required"] is False
    completed = parameters["completed"]
    assert completed["required"] is False
    assert {"type": "boolean"} in completed["schema"]["anyOf"]
    assert parameters["user_id"]["schema"]["type"] == "string"


def test_headers_of_the_contract_are_published(openapi: Document) -> None:
    created = openapi["paths"][TASKS]["post"]["responses"]["201"]
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(created["headers"])
    assert created["headers"]["ETag"]["required"] is True
    assert created["headers"]["Idempotent-Replayed"]["required"] is False
    one_task = [("get", TASK), ("put", TASK), ("patch", TASK), ("patch", COMPLETE)]
    for method, path in [*one_task, ("post", RESTORE)]:
        assert "ETag" in openapi["paths"][path][method]["responses"]["200"]["headers"]
    not_modified = openapi["paths"][TASK]["get"]["responses"]["304"]
    assert "content" not in not_modified
    assert "ETag" in not_modified["headers"]
    assert "Idempotent-Replayed" in openapi["paths"][BATCH]["post"]["responses"]["200"]["headers"]
    for method, path in CONTRACT:
        responses = openapi["paths"][path][method]["responses"]
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"]["headers"]
        if "503" in responses:
            assert "Retry-After" in responses["503"]["headers"]


def header_parameters(openapi: Document, method: str, path: str) -> dict[str, Document]:
    parameters = openapi["paths"][path][method].get("parameters", [])
    return {p["name"]: p for p in parameters if p["in"] == "header"}


def test_conditional_and_idempotency_headers_are_published(openapi: Document) -> None:
    for method, path in [("put", TASK), ("patch", TASK), ("patch", COMPLETE), ("delete", TASK)]:
        if_match = header_parameters(openapi, method, path)["If-Match"]
        assert if_match["required"] is False
        assert if_match["schema"]["type"] == "string"
        assert "412" in if_match["description"]
    assert set(header_parameters(openapi, "get", TASK)) == {"If-None-Match"}
    for path in (TASKS, BATCH):
        key = header_parameters(openapi, "post", path)["Idempotency-Key"]
        assert key["required"] is False
        assert key["schema"]["pattern"]
    assert not header_parameters(openapi, "get", TASKS)


def test_task_routes_declare_bearer_authentication(openapi: Document) -> None:
    schemes = openapi["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme == scheme | {"type": "http", "scheme": "bearer"}
    for method, path, operation in operations(openapi):
        if path.startswith("/api/"):
            assert operation["security"] == [{name: []}], (method, path)


async def test_the_served_document_is_the_apps(
    client: httpx.AsyncClient, openapi: Document
) -> None:
    served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# Real responses against the published schemas.

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _utc_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    return bool(EXPLICIT_UTC_OFFSET.search(value)) and parsed.utcoffset() == timedelta(0)


class ResponseChecker:
    """Validates each response against what the document says for its route and status."""

    def __init__(self, openapi: Document) -> None:
        self.openapi = openapi
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, response: httpx.Response) -> None:
        responses = self.openapi["paths"][path][method.lower()]["responses"]
        status = str(response.status_code)
        assert status in responses, f"{method} {path} answered undocumented {status}"
        self.seen.add((method.lower(), path, response.status_code))
        documented = responses[status]
        if "content" not in documented:
            assert response.content == b""
            return
        schema = documented["content"]["application/json"]["schema"]
        validator = Draft202012Validator(
            {**schema, "components": self.openapi["components"]}, format_checker=FORMATS
        )
        errors = [error.message for error in validator.iter_errors(response.json())]
        assert errors == [], (method, path, status, response.text[:300])
        for header, described in documented.get("headers", {}).items():
            if described.get("required", True):
                assert header.lower() in response.headers, (method, path, status, header)


async def test_real_responses_validate_against_the_published_schema(
    client: httpx.AsyncClient, client_with: ClientFactory, openapi: Document
) -> None:
    check = ResponseChecker(openapi)

    async def call(method: str, path: str, url: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", auth())
        response = await client.request(method, url, **kwargs)
        check(method, path, response)
        return response

    base = "/api/v1/alice/tasks"
    created = await call("POST", TASKS, base, json={"title": "t", "description": "d"})
    await call("POST", TASKS, base, json={"title": "u", "completed": True})
    keyed = {**auth(), "Idempotency-Key": "contract-1"}
    await call("POST", TASKS, base, json={"title": "k"}, headers=keyed)
    replayed = await call("POST", TASKS, base, json={"title": "k"}, headers=keyed)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    await call("POST", TASKS, base, json={"title": "other"}, headers=keyed)  # 422 reused
    task = f"{base}/{created.json()['id']}"
    await call("GET", TASKS, base)
    await call("GET", TASKS, f"{base}?completed=true&limit=1&offset=1")
    fetched = await call("GET", TASK, task)
    etag = {**auth(), "If-None-Match": fetched.headers["ETag"]}
    await call("GET", TASK, task, headers=etag)  # 304
    await call("PUT", TASK, task, json={"title": "t2"})
    await call("PUT", TASK, task, json={"title": "t3"}, headers={**auth(), "If-Match": '"1"'})
    await call("PATCH", TASK, task, json={"description": None})
    await call("PATCH", COMPLETE, f"{task}/complete")
    await call("PATCH", COMPLETE, f"{task}/complete", json={"completed": False})
    batch = {"operations": [{"op": "create", "ref": "a", "data": {"title": "b"}}]}
    await call("POST", BATCH, f"{base}/batch", json=batch)
    failing = {
        "atomic": True,
        "operations": [
            {"op": "create", "ref": "a", "data": {"title": "b"}},
            {"op": "delete", "id": str(uuid.uuid4())},
        ],
    }
    await call("POST", BATCH, f"{base}/batch", json=failing)  # 409 batch_failed
    await call("POST", BATCH, f"{base}/batch", json={"operations": [{"op": "nope"}]})
    await call("GET", "/healthz", "/healthz")
    await call("GET", "/readyz", "/readyz")
    # Errors.
    await call("GET", TASKS, base, headers={})
    await call("GET", TASKS, base, headers={"Authorization": "Bearer junk"})
    await call("GET", TASKS, "/api/v1/bob/tasks")
    await call("GET", TASKS, f"{base}?limit=0")
    await call(
        "POST", TASKS, base, content=b"{", headers={**auth(), "Content-Type": "application/json"}
    )
    await call("POST", TASKS, base, json={"title": ""})
    await call("POST", TASKS, base, content=b" " * (1024 * 1024 + 1), headers=auth())
    await call("GET", TASK, f"{base}/{uuid.uuid4()}")
    await call("GET", TASK, f"{base}/not-a-uuid")
    await call("PUT", TASK, f"{base}/{uuid.uuid4()}", json={"title": "x"})
    await call("PATCH", TASK, task, json={"title": None})
    await call("PATCH", COMPLETE, f"{task}/complete", json={"completed": "yes"})
    await call("DELETE", TASK, task)
    await call("DELETE", TASK, task)
    async with client_with(require_if_match=True) as strict:
        check("DELETE", TASK, await strict.delete(task, headers=auth()))  # 428
    await call("GET", TRASH, f"{base}/trash")
    await call("GET", TRASH, f"{base}/trash?limit=0")
    await call("POST", RESTORE, f"{task}/restore")
    await call("POST", RESTORE, f"{task}/restore")
    await call("DELETE", TASK, task)
    await call("DELETE", TRASHED, f"{base}/trash/{created.json()['id']}")
    await call("DELETE", TRASHED, f"{base}/trash/{created.json()['id']}")
    first = await call("GET", CHANGES, f"{base}/changes?limit=1")
    await call("GET", CHANGES, f"{base}/changes?since={first.json()['cursor']}")
    await call("GET", CHANGES, f"{base}/changes?since=nonsense")
    repeating = await call(
        "POST",
        TASKS,
        base,
        json={
            "title": "r",
            "due_at": "2026-05-01T09:00:00Z",
            "recurrence": "FREQ=DAILY",
            "time_zone": "Europe/Berlin",
            "reminders": ["PT15M"],
        },
    )
    repeating_task = f"{base}/{repeating.json()['id']}"
    await call("PATCH", COMPLETE, f"{repeating_task}/complete")
    await call("PATCH", TASK, repeating_task, json={"due_at": None})  # 422
    window = "from=2026-05-01T00:00:00Z&to=2026-05-08T00:00:00Z"
    await call("GET", REMINDERS, f"/api/v1/alice/reminders?{window}")
    await call("GET", REMINDERS, "/api/v1/alice/reminders?from=2026-05-01T00:00:00Z")
    await call("GET", REMINDERS, f"/api/v1/bob/reminders?{window}")
    await call("GET", EXPORT, "/api/v1/alice/export")
    await call("GET", EXPORT, "/api/v1/bob/export")
    await call("DELETE", ACCOUNT, "/api/v1/alice")
    # The account is new now: the old cursor is expired.
    await call("GET", CHANGES, f"{base}/changes?since={first.json()['cursor']}")
    # The database gone: 503 from the routes that need it.
    unreachable = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1"
    async with client_with(database_url=unreachable, db_pool_timeout_seconds=0.3) as down:
        check("GET", "/readyz", await down.get("/readyz"))
        check("GET", TASKS, await down.get(base, headers=auth()))

    expected_statuses = {
        (method, path, status)
        for (method, path), (success, _, errors) in CONTRACT.items()
        for status in {success} | errors
        if status != 413 or method == "post"
    }
    missing = expected_statuses - check.seen
    # Not every status of every route needs a live example; the ones that do are here.
    assert {
        ("get", TASKS, 200),
        ("post", TASKS, 201),
        ("get", TASK, 200),
        ("post", BATCH, 200),
        ("post", BATCH, 409),
        ("post", BATCH, 422),
        ("put", TASK, 200),
        ("put", TASK, 412),
        ("delete", TASK, 428),
        ("patch", TASK, 200),
        ("patch", COMPLETE, 200),
        ("delete", TASK, 204),
        ("get", TASKS, 401),
        ("get", TASKS, 403),
        ("get", TASKS, 422),
        ("get", REMINDERS, 200),
        ("get", REMINDERS, 403),
        ("get", REMINDERS, 422),
        ("patch", TASK, 422),
        ("post", TASKS, 413),
        ("get", TASK, 404),
        ("get", TASKS, 503),
        ("get", "/readyz", 503),
        ("get", TRASH, 200),
        ("get", TRASH, 422),
        ("post", RESTORE, 200),
        ("post", RESTORE, 404),
        ("delete", TRASHED, 204),
        ("delete", TRASHED, 404),
        ("get", CHANGES, 200),
        ("get", CHANGES, 410),
        ("get", CHANGES, 422),
        ("get", EXPORT, 200),
        ("get", EXPORT, 403),
        ("delete", ACCOUNT, 204),
    }.isdisjoint(missing)


def test_list_filters_search_and_sort_are_published(openapi: Document) -> None:
    parameters = {p["name"]: p for p in openapi["paths"][TASKS]["get"]["parameters"]}
    for name in ("priority", "tag", "due_before", "due_after", "overdue", "q", "sort"):
        assert parameters[name]["in"] == "query"
        assert parameters[name]["required"] is False
        assert parameters[name].get("description") or parameters[name]["schema"]["description"]
    sort = parameters["sort"]["schema"]
    assert set(sort["enum"]) == {
        f"{prefix}{field}"
        for field in ("created_at", "updated_at", "due_at", "priority", "title")
        for prefix in ("", "-")
    }
    assert sort["default"] == "-created_at"
    [priority, _] = parameters["priority"]["schema"]["anyOf"]
    assert re.fullmatch(priority["pattern"], "medium,high")
    assert not re.fullmatch(priority["pattern"], "urgent")
    tag = parameters["tag"]["schema"]
    assert (tag["type"], tag["maxItems"]) == ("array", 20)
    assert "pattern" in tag["items"]
    [q, _] = parameters["q"]["schema"]["anyOf"]
    assert q["maxLength"] == 200
    for name in ("due_before", "due_after"):
        [instant, _] = parameters[name]["schema"]["anyOf"]
        assert instant["format"] == "date-time"
    assert {"type": "boolean"} in parameters["overdue"]["schema"]["anyOf"]
    assert {"type": "boolean"} in parameters["recurring"]["schema"]["anyOf"]
    assert {"type": "string", "format": "uuid"} in parameters["series_id"]["schema"]["anyOf"]


def test_the_reminders_window_is_published(openapi: Document) -> None:
    parameters = {p["name"]: p for p in openapi["paths"][REMINDERS]["get"]["parameters"]}
    for name in ("from", "to"):
        assert parameters[name]["in"] == "query"
        assert parameters[name]["required"] is True
        assert parameters[name]["schema"]["format"] == "date-time"
    listing = openapi["components"]["schemas"]["ReminderList"]
    assert set(listing["required"]) == {"reminders", "has_more"}
    reminder = openapi["components"]["schemas"]["Reminder"]
    assert set(reminder["required"]) == {"task_id", "title", "remind_at", "due_at", "offset"}


def test_repetition_and_reminder_fields_are_published(openapi: Document) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("TaskCreate", "TaskReplace", "TaskUpdate"):
        properties = schemas[name]["properties"]
        assert {"recurrence", "time_zone", "reminders"} <= set(properties)
        assert not {"series_id", "next_id"} & set(properties)
    create = schemas["TaskCreate"]["properties"]
    assert create["time_zone"]["default"] == "UTC"
    assert "RRULE" in create["recurrence"]["anyOf"][0]["description"]
    reminders = create["reminders"]
    assert reminders["maxItems"] == 5
    offset = reminders["items"]["pattern"]
    for good in ("PT0S", "PT15M", "P1D", "P1DT2H", "P2W"):
        assert re.fullmatch(offset, good), good
    for bad in ("P", "PT", "15M", "P1M", "PT1.5M", "-PT1M"):
        assert not re.fullmatch(offset, bad), bad
