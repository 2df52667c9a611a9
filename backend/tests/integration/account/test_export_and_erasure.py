"""A user takes all their data (a streamed JSON export) or erases it (the account and
everything of theirs, nobody else's)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Message

from app.account import service as account_service
from tests.conftest import app_state, auth, make_token

pytestmark = pytest.mark.anyio

Json = dict[str, Any]


async def create(client: httpx.AsyncClient, owner: str = "alice", **fields: Any) -> Json:
    response = await client.post(
        f"/api/v1/{owner}/tasks", json={"title": "t", **fields}, headers=auth(owner)
    )
    assert response.status_code == 201, response.text
    task: Json = response.json()
    return task


async def delete(client: httpx.AsyncClient, url: str, owner: str = "alice") -> None:
    response = await client.delete(url, headers=auth(owner))
    assert response.status_code == 204, response.text


async def bulk_insert(db: asyncpg.Connection, owner: str, count: int) -> None:
    await db.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", owner)
    await db.execute(
        "INSERT INTO tasks (owner_id, title, description, tags, change_seq) "
        "SELECT $1, 'bulk ' || n, repeat('x', n), ARRAY['t' || (n % 5)], n + 1000 "
        "FROM generate_series(1, $2) AS n",
        owner,
        count,
    )


async def everything_of(db: asyncpg.Connection, owner: str) -> Json:
    return {
        "users": [dict(r) for r in await db.fetch("SELECT * FROM users WHERE id = $1", owner)],
        "tasks": [
            dict(r) for r in await db.fetch("SELECT * FROM tasks WHERE owner_id = $1", owner)
        ],
        "tombstones": [
            dict(r) for r in await db.fetch("SELECT * FROM tombstones WHERE owner_id = $1", owner)
        ],
    }


async def all_pages(client: httpx.AsyncClient, path: str) -> list[Json]:
    tasks: list[Json] = []
    while True:
        body = (await client.get(f"{path}?limit=100&offset={len(tasks)}", headers=auth())).json()
        tasks.extend(body["tasks"])
        if len(tasks) >= body["total"]:
            return tasks


# Export


async def test_the_export_holds_everything_stored_about_the_caller_and_nothing_else(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth(email="alice@example.com"))
    await bulk_insert(db, "alice", 300)
    made = [await create(client, title=f"api {n}", priority="high") for n in range(6)]
    for task in made[:4]:
        await delete(client, f"/api/v1/alice/tasks/{task['id']}")
    await delete(client, f"/api/v1/alice/tasks/trash/{made[0]['id']}")
    await create(client, "bob", title="not alice's")
    await bulk_insert(db, "bob", 20)

    response = await client.get("/api/v1/alice/export", headers=auth())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = orjson.loads(response.content)
    assert set(document) == {"user", "tasks", "trash", "deleted"}
    user = document["user"]
    assert (user["id"], user["email"]) == ("alice", "alice@example.com")
    assert user["created_at"].endswith("Z")

    assert len(document["tasks"]) == 302
    assert document["tasks"] == await all_pages(client, "/api/v1/alice/tasks")
    assert document["trash"] == await all_pages(client, "/api/v1/alice/tasks/trash")
    assert [t["id"] for t in document["trash"]] == [made[3]["id"], made[2]["id"], made[1]["id"]]
    assert all(t["deleted_at"] for t in document["trash"])
    assert [d["id"] for d in document["deleted"]] == [t["id"] for t in made[:4]]
    everything = document["tasks"] + document["trash"]
    assert {t["owner_id"] for t in everything} == {"alice"}
    stored = await db.fetchval("SELECT count(*) FROM tasks WHERE owner_id = 'alice'")
    assert len(everything) == stored


async def test_an_empty_account_exports_empty_lists(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/alice/export", headers=auth())
    document = orjson.loads(response.content)
    assert (document["tasks"], document["trash"], document["deleted"]) == ([], [], [])
    assert document["user"]["id"] == "alice"
    assert document["user"]["email"] is None


async def test_only_the_caller_may_export(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/bob/export", headers=auth())).status_code == 403
    assert (await client.get("/api/v1/alice/export")).status_code == 401


def asgi_request(path: str, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {make_token('alice')}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


async def call_asgi(
    app: FastAPI, path: str, disconnect_when: Callable[[list[Message]], bool]
) -> list[Message]:
    """Drive the app as a server would; the client goes away once `disconnect_when` holds."""
    sent: list[Message] = []
    gone = asyncio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if disconnect_when(sent):
            gone.set()

    await app(asgi_request(path), receive, send)
    return sent


@pytest.fixture
def small_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account_service, "FETCH_SIZE", 20)


async def test_the_export_is_streamed_in_chunks(
    client: httpx.AsyncClient, db: asyncpg.Connection, small_fetches: None
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth())
    await bulk_insert(db, "alice", 200)
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    sent = await call_asgi(app, "/api/v1/alice/export", lambda sent: False)
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert len(bodies) >= 200 / 20
    assert max(len(body) for body in bodies) < 40_000
    assert len(orjson.loads(b"".join(bodies))["tasks"]) == 200


async def test_a_client_leaving_mid_export_gives_its_connection_back(
    client: httpx.AsyncClient, db: asyncpg.Connection, small_fetches: None
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth())
    await bulk_insert(db, "alice", 2000)
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    pool = app_state(client).database.pool
    for _ in range(3):
        sent = await call_asgi(app, "/api/v1/alice/export", lambda sent: len(sent) >= 4)
        assert sent[-1].get("more_body", False) is True  # it did not get to the end
    await asyncio.sleep(0.1)
    assert pool.get_idle_size() == pool.get_size()
    open_transactions = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'todo-backend' AND state LIKE 'idle in transaction%'"
    )
    assert open_transactions == 0
    # And the API still serves.
    assert (await client.get("/api/v1/alice/export", headers=auth())).status_code == 200


# Erasure


async def test_erasure_deletes_the_user_and_everything_of_theirs_and_nothing_else(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for owner in ("alice", "bob"):
        _, trashed, removed = [await create(client, owner) for _ in range(3)]
        for task in (trashed, removed):
            await delete(client, f"/api/v1/{owner}/tasks/{task['id']}", owner)
        await delete(client, f"/api/v1/{owner}/tasks/trash/{removed['id']}", owner)
    bobs = await everything_of(db, "bob")
    assert len(bobs["tasks"]) == 2
    assert len(bobs["tombstones"]) == 2

    response = await client.delete("/api/v1/alice", headers=auth())
    assert response.status_code == 204
    assert response.content == b""
    assert await everything_of(db, "alice") == {"users": [], "tasks": [], "tombstones": []}
    assert await everything_of(db, "bob") == bobs


async def test_a_later_token_for_the_same_subject_starts_a_new_empty_account(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    task = await create(client)
    first_created = await db.fetchval("SELECT created_at FROM users WHERE id = 'alice'")
    await delete(client, "/api/v1/alice")

    listed = await client.get("/api/v1/alice/tasks", headers=auth(email="new@example.com"))
    assert listed.json()["tasks"] == []
    # This process forgot the user, so the request provisioned a new row at once.
    row = await db.fetchrow("SELECT * FROM users WHERE id = 'alice'")
    assert row is not None
    assert row["created_at"] > first_created
    assert row["email"] == "new@example.com"
    assert row["change_seq"] == 0
    gone = await client.get(f"/api/v1/alice/tasks/{task['id']}", headers=auth())
    assert gone.status_code == 404
    assert (await client.get("/api/v1/alice/tasks/trash", headers=auth())).json()["total"] == 0


async def test_erasure_is_only_for_the_caller(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await create(client, "bob")
    assert (await client.delete("/api/v1/bob", headers=auth())).status_code == 403
    assert (await client.delete("/api/v1/bob")).status_code == 401
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE owner_id = 'bob'") == 1


async def test_every_table_with_a_users_foreign_key_is_erased_with_the_user(
    db: asyncpg.Connection,
) -> None:
    rules = await db.fetch(
        "SELECT conrelid::regclass::text AS table_name, confdeltype::text AS on_delete "
        "FROM pg_constraint WHERE contype = 'f' AND confrelid = 'public.users'::regclass"
    )
    assert {row["table_name"] for row in rules} >= {"tasks", "tombstones"}
    assert {row["on_delete"] for row in rules} == {"c"}  # ON DELETE CASCADE


WritePath = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]
WRITES: dict[str, WritePath] = {
    "put": lambda c, url: c.put(url, json={"title": "x"}, headers=auth()),
    "patch": lambda c, url: c.patch(url, json={"title": "x"}, headers=auth()),
    "complete": lambda c, url: c.patch(f"{url}/complete", headers=auth()),
    "delete": lambda c, url: c.delete(url, headers=auth()),
    "restore": lambda c, url: c.post(f"{url}/restore", headers=auth()),
    "remove": lambda c, url: c.delete(url.replace("/tasks/", "/tasks/trash/"), headers=auth()),
}


@pytest.mark.parametrize("write", WRITES)
async def test_after_an_erasure_by_another_process_writes_behave(
    client: httpx.AsyncClient, db: asyncpg.Connection, write: str
) -> None:
    task = await create(client)
    # Another worker erased the account; this process still believes the user is stored.
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    response = await WRITES[write](client, f"/api/v1/alice/tasks/{task['id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0
    created = await create(client)
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'alice'") == 1
    assert [
        t["id"] for t in (await client.get("/api/v1/alice/tasks", headers=auth())).json()["tasks"]
    ] == [created["id"]]


async def test_after_an_erasure_by_another_process_reads_start_a_new_account(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await create(client)
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    trash = await client.get("/api/v1/alice/tasks/trash", headers=auth())
    assert trash.json()["total"] == 0
    exported = await client.get("/api/v1/alice/export", headers=auth())
    assert exported.status_code == 200
    assert orjson.loads(exported.content)["tasks"] == []
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'alice'") == 1
    assert (await client.delete("/api/v1/alice", headers=auth())).status_code == 204


async def test_erasing_twice_is_fine(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await create(client)
    await delete(client, "/api/v1/alice")
    await delete(client, "/api/v1/alice")
    assert await db.fetchval("SELECT count(*) FROM users") == 0
