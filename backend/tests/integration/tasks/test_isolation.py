"""One user can never see, change or delete another user's task, nor learn that it exists."""

import uuid

import asyncpg
import httpx
import pytest

from tests.conftest import ClientFactory, auth
from tests.integration.tasks.conftest import RowReader, TaskMaker

pytestmark = pytest.mark.anyio

# (method, path under /api/v1/{user}/tasks/{id}, JSON body) for every route naming a task.
TASK_ROUTES = [
    ("GET", "", None),
    ("PUT", "", {"title": "taken over", "description": "x", "completed": True}),
    ("PATCH", "", {"title": "taken over"}),
    ("PATCH", "", {}),
    ("PATCH", "/complete", None),
    ("PATCH", "/complete", {"completed": True}),
    ("DELETE", "", None),
]


def same_headers(response: httpx.Response) -> dict[str, str]:
    # Headers that differ on every response by design tell nothing about the task.
    return {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}


@pytest.mark.parametrize(("method", "suffix", "body"), TASK_ROUTES)
async def test_another_users_task_is_answered_exactly_like_a_missing_one(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: dict[str, object] | None,
) -> None:
    task = await create_task("alice", title="alice's", description="private")
    before = await task_row(task["id"])

    foreign = await client.request(
        method, f"/api/v1/bob/tasks/{task['id']}{suffix}", json=body, headers=auth("bob")
    )
    missing = await client.request(
        method, f"/api/v1/bob/tasks/{uuid.uuid4()}{suffix}", json=body, headers=auth("bob")
    )

    assert foreign.status_code == 404
    assert foreign.json() == {"detail": "Task not found.", "code": "task_not_found"}
    assert (missing.status_code, missing.json(), same_headers(missing)) == (
        foreign.status_code,
        foreign.json(),
        same_headers(foreign),
    )
    assert await task_row(task["id"]) == before


async def test_lists_show_and_count_only_the_callers_tasks(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    alice_tasks = [await create_task("alice", completed=n == 0) for n in range(3)]
    bob_task = await create_task("bob", completed=True)

    for query, alice_total, bob_total in [
        ("", 3, 1),
        ("?completed=true", 1, 1),
        ("?completed=false", 2, 0),
    ]:
        alice = (await client.get(f"/api/v1/alice/tasks{query}", headers=auth("alice"))).json()
        bob = (await client.get(f"/api/v1/bob/tasks{query}", headers=auth("bob"))).json()
        assert alice["total"] == alice_total
        assert bob["total"] == bob_total
        assert {t["owner_id"] for t in alice["tasks"]} <= {"alice"}
        assert {t["owner_id"] for t in bob["tasks"]} <= {"bob"}
        assert bob_task["id"] not in {t["id"] for t in alice["tasks"]}
        assert not {t["id"] for t in alice_tasks} & {t["id"] for t in bob["tasks"]}


async def test_a_new_user_sees_an_empty_list(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task("alice")
    carol = await client.get("/api/v1/carol/tasks", headers=auth("carol"))
    assert carol.json() == {"tasks": [], "total": 0, "limit": 50, "offset": 0}


async def test_a_created_task_always_belongs_to_the_token_subject(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.post("/api/v1/bob/tasks", json={"title": "mine"}, headers=auth("bob"))
    assert response.json()["owner_id"] == "bob"
    assert await db.fetchval("SELECT owner_id FROM tasks") == "bob"


# 403: the path names someone other than the token's subject.

ALL_ROUTES = [
    ("GET", "", None),
    ("POST", "", {"title": "planted"}),
    *[(method, f"/{{task_id}}{suffix}", body) for method, suffix, body in TASK_ROUTES],
]


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
async def test_acting_on_another_users_path_is_403_whether_the_task_exists_or_not(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    task = await create_task("alice")
    before = await task_row(task["id"])
    answers = []
    for task_id in (task["id"], str(uuid.uuid4()), "not-a-uuid"):
        response = await client.request(
            method,
            f"/api/v1/alice/tasks{path.format(task_id=task_id)}",
            json=body,
            headers=auth("mallory"),
        )
        answers.append((response.status_code, response.json()))
    assert answers == [(403, {"detail": answers[0][1]["detail"], "code": "forbidden"})] * 3
    assert await task_row(task["id"]) == before
    assert await db.fetchval("SELECT count(*) FROM tasks") == 1
    # Refused before any database work: the intruder was not even provisioned.
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'mallory'") == 0


async def test_403_is_decided_without_the_database(client_with: ClientFactory) -> None:
    # Nothing listens on port 1: any database work would end in 503, not 403.
    unreachable = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1"
    async with client_with(database_url=unreachable, db_pool_timeout_seconds=0.3) as http:
        for method, path, body in ALL_ROUTES:
            response = await http.request(
                method,
                f"/api/v1/alice/tasks{path.format(task_id=uuid.uuid4())}",
                json=body,
                headers=auth("mallory"),
            )
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "forbidden"
        # The same app does need the database for the rightful owner.
        own = await http.get("/api/v1/mallory/tasks", headers=auth("mallory"))
        assert own.status_code == 503
        assert own.json()["code"] == "database_unavailable"
