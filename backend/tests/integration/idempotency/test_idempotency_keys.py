"""Idempotency-Key on POST /tasks and POST /tasks/batch: the first response is kept and
replayed, nothing is done twice, whatever the timing."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.database import Database
from app.core.housekeeping import Housekeeping
from app.idempotency import service
from app.main import retention_jobs
from tests.conftest import ClientFactory, app_state, auth

pytestmark = pytest.mark.anyio

API = "/api/v1/alice/tasks"
BATCH = f"{API}/batch"


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return shared_client


def keyed(key: str, sub: str = "alice") -> dict[str, str]:
    return {**auth(sub), "Idempotency-Key": key}


async def count_tasks(db: asyncpg.Connection, owner: str = "alice") -> int:
    count: int = await db.fetchval("SELECT count(*) FROM tasks WHERE owner_id = $1", owner)
    return count


async def test_a_retry_gets_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    first = await client.post(API, json={"title": "Buy milk", "tags": ["a"]}, headers=keyed("k1"))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    # Equal as JSON: other key order and spacing.
    again = await client.post(
        API,
        content=b'{ "tags" : ["a"],\n "title": "Buy milk" }',
        headers={**keyed("k1"), "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert again.headers["Content-Type"] == "application/json"
    assert await count_tasks(db) == 1


async def test_the_replay_is_the_first_response_even_after_the_task_changed(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    await client.patch(first.headers["Location"], json={"title": "u"}, headers=auth())
    again = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    assert again.json() == first.json()


async def test_the_same_key_with_another_body_is_422_and_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.post(API, json={"title": "t"}, headers=keyed("k"))
    for body in ({"title": "other"}, {"title": "t", "priority": "high"}, {"title": "t "}):
        answer = await client.post(API, json=body, headers=keyed("k"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "idempotency_key_reused"
    assert await count_tasks(db) == 1


async def test_a_key_used_on_batch_cannot_be_reused_on_create(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    assert (
        await client.post(BATCH, json={"operations": []}, headers=keyed("k"))
    ).status_code == 200
    answer = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    assert answer.status_code == 422
    assert answer.json()["code"] == "idempotency_key_reused"
    assert await count_tasks(db) == 0


async def test_keys_are_scoped_per_user(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    alice = await client.post(API, json={"title": "t"}, headers=keyed("shared"))
    bob = await client.post(
        "/api/v1/bob/tasks", json={"title": "t"}, headers=keyed("shared", "bob")
    )
    assert alice.status_code == bob.status_code == 201
    assert "Idempotent-Replayed" not in bob.headers
    assert bob.json()["owner_id"] == "bob"
    assert await count_tasks(db, "alice") == await count_tasks(db, "bob") == 1


async def test_without_a_key_every_post_creates(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for _ in range(2):
        assert (await client.post(API, json={"title": "t"}, headers=auth())).status_code == 201
    assert await count_tasks(db) == 2
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "é", "tab\there", "del\x7f"],
    ids=["empty", "too-long", "non-ascii", "control", "delete"],
)
async def test_a_key_that_is_not_1_to_255_printable_ascii_is_422(
    client: httpx.AsyncClient, db: asyncpg.Connection, key: str
) -> None:
    headers = [
        *((name.encode(), value.encode()) for name, value in auth().items()),
        (b"Idempotency-Key", key.encode("latin-1")),
    ]
    answer = await client.post(API, json={"title": "t"}, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await count_tasks(db) == 0


async def test_two_keys_in_one_request_are_422(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = [*auth().items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    assert (await client.post(API, json={"title": "t"}, headers=headers)).status_code == 422
    assert await count_tasks(db) == 0


async def test_the_longest_key_and_every_printable_character_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    printable = "".join(chr(code) for code in range(0x21, 0x7F))
    for key in ("k" * 255, printable, "a b"):
        assert (await client.post(API, json={"title": "t"}, headers=keyed(key))).status_code == 201
        again = await client.post(API, json={"title": "t"}, headers=keyed(key))
        assert again.headers.get("Idempotent-Replayed") == "true"


async def test_a_first_request_refused_with_a_4xx_leaves_the_key_free(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    refused = await client.post(API, json={"title": ""}, headers=keyed("k"))
    assert refused.status_code == 422
    created = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    assert created.status_code == 201
    assert "Idempotent-Replayed" not in created.headers
    assert await count_tasks(db) == 1


async def test_a_failed_atomic_batch_is_not_stored(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    batch = {
        "atomic": True,
        "operations": [
            {"op": "create", "data": {"title": "t"}},
            {"op": "delete", "id": "00000000-0000-0000-0000-000000000000"},
        ],
    }
    for _ in range(2):
        answer = await client.post(BATCH, json=batch, headers=keyed("k"))
        assert answer.status_code == 409
        assert "Idempotent-Replayed" not in answer.headers
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    assert await count_tasks(db) == 0


async def test_a_batch_is_replayed_and_applied_once(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    batch = {
        "operations": [
            {"op": "create", "ref": "a", "data": {"title": "t"}},
            {"op": "complete", "id": "ref:a"},
        ]
    }
    first = await client.post(BATCH, json=batch, headers=keyed("b"))
    again = await client.post(BATCH, json=batch, headers=keyed("b"))
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT array_agg(version) FROM tasks") == [2]


async def test_the_response_is_kept_for_the_configured_hours(
    client_with: ClientFactory, db: asyncpg.Connection
) -> None:
    async with client_with(idempotency_ttl_hours=2) as two_hours:
        await two_hours.post(API, json={"title": "t"}, headers=keyed("k"))
    kept = await db.fetchval("SELECT expires_at - created_at FROM idempotency_keys")
    assert kept == timedelta(hours=2)


async def test_an_expired_key_is_free_again(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.post(API, json={"title": "t"}, headers=keyed("k"))
    await db.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    # Even with another body: the old request is forgotten.
    answer = await client.post(API, json={"title": "new"}, headers=keyed("k"))
    assert answer.status_code == 201
    assert "Idempotent-Replayed" not in answer.headers
    assert await count_tasks(db) == 2
    again = await client.post(API, json={"title": "new"}, headers=keyed("k"))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == answer.json()["id"]


async def test_expired_keys_are_swept_by_the_housekeeping(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute("INSERT INTO users (id) VALUES ('bob')")
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    await db.executemany(
        "INSERT INTO idempotency_keys (owner_id, key, fingerprint, status_code, body, headers, "
        "expires_at) VALUES ('bob', $1, '', 201, '', '{}', $2)",
        [("old-1", past), ("old-2", past), ("old-3", past), ("live", future)],
    )
    await client.post(API, json={"title": "t"}, headers=keyed("k"))
    database: Database = app_state(client).database
    housekeeping = Housekeeping(database, retention_jobs(Settings(_env_file=None)), 0, batch_size=2)
    assert await housekeeping.run_once() == {
        "trash": 0,
        "tombstones": 0,
        "idempotency_keys": 3,
        "events": 0,
        "event_streams": 0,
        "reminder_schedule": 0,
    }
    left = await db.fetch("SELECT owner_id, key FROM idempotency_keys ORDER BY owner_id, key")
    assert [tuple(row) for row in left] == [("alice", "k"), ("bob", "live")]


async def test_erasing_a_user_erases_their_keys(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.post(API, json={"title": "t"}, headers=keyed("k"))
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0


# While the first request is in progress.


async def test_a_duplicate_while_the_first_is_in_progress_is_409(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    # The first request's transaction, held open: its lock on (alice, "k").
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", service._lock_id("alice", "k"))
        answer = await client.post(API, json={"title": "t"}, headers=keyed("k"))
        assert answer.status_code == 409
        assert answer.json()["code"] == "idempotency_in_progress"
        other_key = await client.post(API, json={"title": "t"}, headers=keyed("k2"))
        assert other_key.status_code == 201
    assert await count_tasks(db) == 1
    assert (await client.post(API, json={"title": "t"}, headers=keyed("k"))).status_code == 201


async def test_a_request_whose_process_died_does_not_hold_its_key(
    client: httpx.AsyncClient, database_url: str, db: asyncpg.Connection
) -> None:
    from app.core.database import parse_database_url

    dying = await asyncpg.connect(parse_database_url(database_url).dsn)
    transaction = dying.transaction()
    await transaction.start()
    await dying.execute("SELECT pg_advisory_xact_lock($1)", service._lock_id("alice", "k"))
    dying.terminate()  # the connection drops mid-transaction, as when a process dies
    for _ in range(50):
        answer = await client.post(API, json={"title": "t"}, headers=keyed("k"))
        if answer.status_code != 409:
            break
        await asyncio.sleep(0.05)  # the server notices the closed socket
    assert answer.status_code == 201


async def test_a_crash_before_the_response_is_stored_leaves_no_task(
    client: httpx.AsyncClient, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The statement that stores the response fails: the task created in the same
    # transaction must not survive without it.
    monkeypatch.setattr(
        service,
        "_STORE",
        "SELECT $1::text, $2::text, $3::text, $4::int, $5::bytea, $6::jsonb, 1 / ($7 - $7)",
    )
    answer = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    assert answer.status_code == 500
    assert await count_tasks(db) == 0
    monkeypatch.undo()
    retried = await client.post(API, json={"title": "t"}, headers=keyed("k"))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert await count_tasks(db) == 1


@pytest.mark.parametrize("path", [API, BATCH])
async def test_concurrent_requests_with_one_key_create_exactly_one_task(
    client: httpx.AsyncClient, db: asyncpg.Connection, path: str
) -> None:
    body = (
        {"title": "once"}
        if path == API
        else {"operations": [{"op": "create", "data": {"title": "once"}}]}
    )
    answers = await asyncio.gather(
        *(client.post(path, json=body, headers=keyed("race")) for _ in range(10))
    )
    assert await count_tasks(db) == 1
    success = 201 if path == API else 200
    firsts = [
        a for a in answers if a.status_code == success and "Idempotent-Replayed" not in a.headers
    ]
    assert len(firsts) == 1, [a.status_code for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "idempotency_in_progress"
        else:
            assert answer.status_code == success
            assert answer.content == firsts[0].content
