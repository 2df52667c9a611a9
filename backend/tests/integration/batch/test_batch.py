"""POST /tasks/batch: operations in order, refs, per-operation preconditions, atomicity."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ClientFactory, auth
from tests.integration.tasks.conftest import Json, RowReader, TaskMaker

pytestmark = pytest.mark.anyio

API = "/api/v1/alice/tasks"
BATCH = f"{API}/batch"


async def run(
    client: httpx.AsyncClient, *operations: Json, atomic: bool | None = None, sub: str = "alice"
) -> httpx.Response:
    body: Json = {"operations": list(operations)}
    if atomic is not None:
        body["atomic"] = atomic
    return await client.post(f"/api/v1/{sub}/tasks/batch", json=body, headers=auth(sub))


async def results(client: httpx.AsyncClient, *operations: Json, **kwargs: Any) -> list[Json]:
    answer = await run(client, *operations, **kwargs)
    assert answer.status_code == 200, answer.text
    found: list[Json] = answer.json()["results"]
    assert len(found) == len(operations)
    return found


async def titles(db: asyncpg.Connection) -> list[str]:
    return [row["title"] for row in await db.fetch("SELECT title FROM tasks ORDER BY title")]


async def test_every_operation_in_order_with_refs(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    existing = await create_task(title="old")
    found = await results(
        client,
        {"op": "create", "ref": "a", "data": {"title": "A", "tags": ["X"]}},
        {"op": "update", "id": "ref:a", "data": {"priority": "high"}, "if_match": '"1"'},
        {"op": "complete", "id": "ref:a"},
        {"op": "complete", "id": "ref:a", "completed": True},
        {"op": "update", "id": existing["id"], "data": {"title": "renamed"}},
        {"op": "delete", "id": existing["id"], "if_match": '"2"'},
    )
    created, updated, toggled, kept, renamed, deleted = found
    assert created["status"] == 201
    assert created["ref"] == "a"
    assert created["task"]["tags"] == ["x"]
    assert created["etag"] == '"1"'
    task_id = created["id"]
    assert created["task"]["id"] == task_id
    assert updated == {
        "ref": "a",
        "id": task_id,
        "status": 200,
        "task": updated["task"],
        "etag": '"2"',
    }
    assert updated["task"]["priority"] == "high"
    assert toggled["task"]["completed"] is True
    assert toggled["etag"] == '"3"'
    assert kept["task"]["completed"] is True
    assert kept["etag"] == '"4"'
    assert renamed["id"] == existing["id"]
    assert renamed["task"]["title"] == "renamed"
    assert deleted == {"id": existing["id"], "status": 204}
    trashed = await task_row(existing["id"])
    assert trashed is not None
    assert trashed["deleted_at"] is not None
    row = await task_row(task_id)
    assert row is not None
    assert row["version"] == 4
    assert row["owner_id"] == "alice"


async def test_an_empty_batch_does_nothing(client: httpx.AsyncClient) -> None:
    assert await results(client) == []


async def test_failures_are_per_operation_without_atomic(
    client: httpx.AsyncClient, create_task: TaskMaker, db: asyncpg.Connection
) -> None:
    task = await create_task(title="t")
    found = await results(
        client,
        {"op": "create", "data": {"title": "first"}},
        {"op": "update", "id": task["id"], "data": {"title": "stale"}, "if_match": '"9"'},
        {"op": "create", "data": {"title": ""}},
        {"op": "delete", "id": str(uuid.uuid4())},
        {"op": "create", "data": {"title": "last"}},
    )
    assert [result["status"] for result in found] == [201, 412, 422, 404, 201]
    assert found[1]["error"]["code"] == "precondition_failed"
    assert found[2]["error"]["code"] == "validation_error"
    assert found[2]["error"]["detail"][0]["loc"] == ["title"]
    assert found[3]["error"]["code"] == "task_not_found"
    assert "task" not in found[1]
    assert "etag" not in found[1]
    assert await titles(db) == ["first", "last", "t"]


async def test_invalid_data_is_422_in_its_result(client: httpx.AsyncClient) -> None:
    found = await results(
        client,
        {"op": "create", "data": {"title": "t", "owner_id": "bob"}},
        {"op": "create", "data": {"title": "t", "priority": "urgent"}},
        {"op": "create", "data": {}},
        {"op": "create", "ref": "ok", "data": {"title": "t"}},
        {"op": "update", "id": "ref:ok", "data": {"title": None}},
        {"op": "update", "id": "ref:ok", "data": {"id": str(uuid.uuid4())}},
    )
    assert [result["status"] for result in found] == [422, 422, 422, 201, 422, 422]
    assert all(r["error"]["code"] == "validation_error" for r in found if r["status"] == 422)


async def test_another_users_task_is_404_in_its_result(
    client: httpx.AsyncClient, create_task: TaskMaker, task_row: RowReader
) -> None:
    bobs = await create_task("bob", title="bob's")
    target = bobs["id"]
    found = await results(
        client,
        {"op": "update", "id": target, "data": {"title": "mine"}},
        {"op": "update", "id": target, "data": {"title": "mine"}, "if_match": "*"},
        {"op": "complete", "id": target, "if_match": '"1"'},
        {"op": "delete", "id": target},
    )
    assert [result["status"] for result in found] == [404, 404, 404, 404]
    assert {result["error"]["code"] for result in found} == {"task_not_found"}
    row = await task_row(target)
    assert row is not None
    assert row["title"] == "bob's"
    assert row["version"] == 1


async def test_refs(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    found = await results(
        client,
        {"op": "complete", "id": "ref:later"},  # not declared yet
        {"op": "create", "ref": "later", "data": {"title": "later"}},
        {"op": "create", "ref": "later", "data": {"title": "again"}},  # duplicate
        {"op": "create", "ref": "broken", "data": {"title": ""}},
        {"op": "complete", "id": "ref:broken"},  # its create failed
        {"op": "delete", "id": "ref:nowhere"},
    )
    assert [(r["status"], r.get("error", {}).get("code")) for r in found] == [
        (422, "unknown_ref"),
        (201, None),
        (422, "duplicate_ref"),
        (422, "validation_error"),
        (404, "task_not_found"),
        (422, "unknown_ref"),
    ]
    assert found[0]["ref"] == "later"
    assert "id" not in found[0]
    assert await titles(db) == ["later"]


async def test_a_deleted_ref_is_404_afterwards(client: httpx.AsyncClient) -> None:
    found = await results(
        client,
        {"op": "create", "ref": "a", "data": {"title": "t"}},
        {"op": "delete", "id": "ref:a"},
        {"op": "complete", "id": "ref:a"},
    )
    assert [result["status"] for result in found] == [201, 204, 404]


async def test_etags_of_results_guard_later_operations(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    first = await results(client, {"op": "complete", "id": task["id"], "if_match": '"1"'})
    etag = first[0]["etag"]
    found = await results(
        client,
        {"op": "complete", "id": task["id"], "if_match": '"1"'},  # stale
        {"op": "complete", "id": task["id"], "if_match": etag},
        {"op": "complete", "id": task["id"], "if_match": f"W/{etag}"},  # weak: never
        {"op": "complete", "id": task["id"], "if_match": '"1", "3"'},
    )
    assert [result["status"] for result in found] == [412, 200, 412, 200]
    # A malformed if_match matches nothing: 412, or 404 when there is no such task.
    found = await results(
        client,
        {"op": "complete", "id": task["id"], "if_match": "3"},
        {"op": "delete", "id": str(uuid.uuid4()), "if_match": "3"},
    )
    assert [result["status"] for result in found] == [412, 404]


async def test_require_if_match_holds_per_operation(
    client_with: ClientFactory, create_task: TaskMaker
) -> None:
    task = await create_task()
    async with client_with(require_if_match=True) as strict:
        found = await results(
            strict,
            {"op": "create", "ref": "a", "data": {"title": "new"}},
            {"op": "update", "id": task["id"], "data": {"title": "x"}},
            {"op": "complete", "id": "ref:a"},
            {"op": "delete", "id": task["id"]},
            {"op": "update", "id": task["id"], "data": {"title": "x"}, "if_match": '"1"'},
            {"op": "delete", "id": "ref:a", "if_match": "*"},
        )
    assert [result["status"] for result in found] == [201, 428, 428, 428, 200, 204]
    assert found[1]["error"]["code"] == "precondition_required"


# Atomic.


async def test_an_atomic_batch_that_succeeds_applies_everything(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    found = await results(
        client,
        {"op": "create", "ref": "a", "data": {"title": "a"}},
        {"op": "create", "data": {"title": "b"}},
        {"op": "complete", "id": "ref:a"},
        atomic=True,
    )
    assert [result["status"] for result in found] == [201, 201, 200]
    assert await titles(db) == ["a", "b"]


async def test_an_atomic_batch_with_a_failure_applies_nothing(
    client: httpx.AsyncClient, create_task: TaskMaker, db: asyncpg.Connection, task_row: RowReader
) -> None:
    task = await create_task(title="kept")
    before = await task_row(task["id"])
    change_seq = await db.fetchval("SELECT change_seq FROM users WHERE id = 'alice'")
    answer = await run(
        client,
        {"op": "create", "ref": "a", "data": {"title": "rolled back"}},
        {"op": "update", "id": task["id"], "data": {"title": "rolled back"}},
        {"op": "complete", "id": task["id"], "if_match": '"1"'},  # stale by now: 412
        {"op": "delete", "id": "ref:a"},
        atomic=True,
    )
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "batch_failed"
    assert body["detail"]
    found = body["results"]
    assert [result["status"] for result in found] == [201, 200, 412, 204]
    assert found[2]["error"]["code"] == "precondition_failed"
    # Not applied: no task, etag or created id in the others.
    assert found[0] == {"ref": "a", "status": 201}
    assert found[1] == {"id": task["id"], "status": 200}
    assert await titles(db) == ["kept"]
    assert await task_row(task["id"]) == before
    assert await db.fetchval("SELECT change_seq FROM users WHERE id = 'alice'") == change_seq


@pytest.mark.parametrize("atomic", [True, False])
async def test_an_atomic_batch_fails_on_invalid_data_too(
    client: httpx.AsyncClient, db: asyncpg.Connection, atomic: bool
) -> None:
    answer = await run(
        client,
        {"op": "create", "data": {"title": "ok"}},
        {"op": "create", "data": {"title": 5}},
        atomic=atomic,
    )
    assert answer.status_code == (409 if atomic else 200)
    assert [r["status"] for r in answer.json()["results"]] == [201, 422]
    assert await titles(db) == ([] if atomic else ["ok"])


# The envelope.


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"operations": {}},
        {"operations": [{"op": "create", "data": {"title": "t"}}] * 101},
        {"operations": [{"op": "explode"}]},
        {"operations": [{"op": "create"}]},
        {"operations": [{"op": "create", "data": "t"}]},
        {"operations": [{"op": "create", "data": {}, "id": str(uuid.uuid4())}]},
        {"operations": [{"op": "create", "ref": "has space", "data": {}}]},
        {"operations": [{"op": "update", "data": {}}]},
        {"operations": [{"op": "update", "id": "not-a-uuid", "data": {}}]},
        {"operations": [{"op": "delete", "id": "ref:"}]},
        {"operations": [{"op": "delete", "id": str(uuid.uuid4()), "if_match": 3}]},
        {"operations": [{"op": "complete", "id": str(uuid.uuid4()), "completed": "yes"}]},
        {"operations": [], "atomic": "yes"},
        {"operations": [], "extra": 1},
    ],
)
async def test_a_malformed_envelope_is_422_and_runs_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: Json
) -> None:
    operations = body.get("operations")
    if isinstance(operations, list) and operations and operations[0].get("op") == "create":
        # Valid creates before the bad one must not run either.
        body = {**body, "operations": [{"op": "create", "data": {"title": "t"}}, *operations]}
    answer = await client.post(BATCH, json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    assert await titles(db) == []


async def test_one_hundred_operations_are_accepted(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    found = await results(client, *[{"op": "create", "data": {"title": "t"}}] * 100)
    assert {result["status"] for result in found} == {201}
    assert await db.fetchval("SELECT count(*) FROM tasks") == 100


async def test_the_path_user_must_be_the_caller(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    answer = await client.post(
        "/api/v1/bob/tasks/batch", json={"operations": []}, headers=auth("alice")
    )
    assert answer.status_code == 403


async def test_invalid_data_of_any_json_is_echoed_as_valid_json(client: httpx.AsyncClient) -> None:
    # Integers beyond 64 bits, NaN and unpaired surrogates are valid input to the parser.
    content = (
        b'{"operations": [{"op": "create", "data": '
        b'{"title": 1e400, "x": 123456789012345678901234567890, "y": "\\ud800"}}]}'
    )
    answer = await client.post(
        BATCH, content=content, headers={**auth(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["status"] == 422
    inputs = {error["loc"][0]: error["input"] for error in result["error"]["detail"]}
    assert inputs["x"] == "123456789012345678901234567890"


async def test_a_complete_operation_with_completed_null_is_refused(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    answer = await run(client, {"op": "complete", "id": task["id"], "completed": None})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    fetched = await client.get(f"{API}/{task['id']}", headers=auth())
    assert fetched.json()["completed"] is False


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "complete", "if_match": None},
        {"op": "update", "data": {"title": "x"}, "if_match": None},
        {"op": "delete", "if_match": None},
    ],
    ids=["complete", "update", "delete"],
)
async def test_an_explicit_null_if_match_is_refused_and_nothing_runs(
    client: httpx.AsyncClient, create_task: TaskMaker, operation: Json
) -> None:
    # The schema offers a string or nothing: null is neither, whatever it would have meant.
    task = await create_task(title="kept")
    answer = await run(client, {**operation, "id": task["id"]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    fetched = await client.get(f"{API}/{task['id']}", headers=auth())
    assert fetched.status_code == 200
    assert fetched.json()["version"] == 1


async def test_an_explicit_null_ref_is_refused(client: httpx.AsyncClient) -> None:
    answer = await run(client, {"op": "create", "ref": None, "data": {"title": "x"}})
    assert answer.status_code == 422, answer.text
    assert (await client.get("/api/v1/alice/tasks", headers=auth())).json()["total"] == 0
