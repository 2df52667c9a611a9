"""Users are provisioned from token claims: on first sight, race-free, and without a write
on later requests."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.users.service import forget_user
from tests.conftest import auth

pytestmark = pytest.mark.anyio


async def user_row(db: asyncpg.Connection, user_id: str) -> dict[str, Any] | None:
    # xmin changes when a row is rewritten; xmax when it is locked or updated. Neither
    # moving proves that a request caused no write (and no row lock) on it.
    row = await db.fetchrow(
        "SELECT id, email, created_at, change_seq, xmin::text AS xmin, xmax::text AS xmax "
        "FROM users WHERE id = $1",
        user_id,
    )
    return None if row is None else dict(row)


async def test_the_first_valid_token_creates_the_user_with_its_email(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    assert await user_row(db, "alice") is None
    response = await client.get("/api/v1/alice/tasks", headers=auth(email="alice@example.com"))
    assert response.status_code == 200
    row = await user_row(db, "alice")
    assert row is not None
    assert row["email"] == "alice@example.com"
    assert abs(row["created_at"] - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_token_without_email_creates_the_user_without_one(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth())
    row = await user_row(db, "alice")
    assert row is not None
    assert row["email"] is None


@pytest.mark.parametrize(
    "email",
    [42, "a" * 321, "nul\u0000@example.com", "\ud800@example.com"],
    ids=["not-a-string", "too-long", "nul", "unpaired-surrogate"],
)
async def test_an_unusable_email_claim_is_ignored(
    client: httpx.AsyncClient, db: asyncpg.Connection, email: object
) -> None:
    response = await client.get("/api/v1/alice/tasks", headers=auth(email=email))
    assert response.status_code == 200, response.text
    row = await user_row(db, "alice")
    assert row is not None
    assert row["email"] is None


async def test_the_email_follows_the_claim_when_it_changes(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth(email="old@example.com"))
    created = await user_row(db, "alice")
    await client.get("/api/v1/alice/tasks", headers=auth(email="new@example.com"))
    updated = await user_row(db, "alice")
    assert created is not None
    assert updated is not None
    assert updated["email"] == "new@example.com"
    assert updated["created_at"] == created["created_at"]
    # A later token without the claim does not erase what is known.
    await client.get("/api/v1/alice/tasks", headers=auth())
    kept = await user_row(db, "alice")
    assert kept is not None
    assert kept["email"] == "new@example.com"


async def test_later_requests_write_nothing_to_users(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = auth(email="alice@example.com")
    await client.get("/api/v1/alice/tasks", headers=headers)
    first = await user_row(db, "alice")
    for _ in range(3):
        assert (await client.get("/api/v1/alice/tasks", headers=headers)).status_code == 200
        assert (await client.get("/api/v1/alice/tasks", headers=auth())).status_code == 200
    assert await user_row(db, "alice") == first
    response = await client.post("/api/v1/alice/tasks", json={"title": "x"}, headers=headers)
    assert response.status_code == 201
    after_insert = await user_row(db, "alice")
    assert after_insert is not None
    assert first is not None
    # A write to a task only advances the user's change counter (the change feed's order).
    unchanged = ("id", "email", "created_at")
    assert {k: after_insert[k] for k in unchanged} == {k: first[k] for k in unchanged}
    assert after_insert["change_seq"] == first["change_seq"] + 1


@pytest.mark.parametrize("email", [None, "alice@example.com"], ids=["no-email", "same-email"])
async def test_a_stored_user_new_to_the_worker_is_neither_written_nor_locked(
    client: httpx.AsyncClient, db: asyncpg.Connection, email: str | None
) -> None:
    # As after a restart: the row is there, the worker's memory of it is not.
    await client.get("/api/v1/alice/tasks", headers=auth(email="alice@example.com"))
    first = await user_row(db, "alice")
    forget_user("alice")
    assert (await client.get("/api/v1/alice/tasks", headers=auth(email=email))).status_code == 200
    assert await user_row(db, "alice") == first


async def test_twenty_simultaneous_first_requests_make_one_user(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = auth("newcomer", email="new@example.com")

    async def create(n: int) -> httpx.Response:
        return await client.post(
            "/api/v1/newcomer/tasks", json={"title": f"task {n}"}, headers=headers
        )

    responses = await asyncio.gather(*(create(n) for n in range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'newcomer'") == 1
    assert await db.fetchval("SELECT email FROM users WHERE id = 'newcomer'") == "new@example.com"
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE owner_id = 'newcomer'") == 20


async def test_twenty_simultaneous_first_reads_make_one_user(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    headers = auth("reader")
    responses = await asyncio.gather(
        *(client.get("/api/v1/reader/tasks", headers=headers) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'reader'") == 1


async def test_a_user_row_removed_behind_the_apps_back_is_provisioned_again(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.get("/api/v1/alice/tasks", headers=auth(email="alice@example.com"))
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    response = await client.post(
        "/api/v1/alice/tasks", json={"title": "after"}, headers=auth(email="alice@example.com")
    )
    assert response.status_code == 201, response.text
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'alice'") == 1
    assert await db.fetchval("SELECT count(*) FROM tasks WHERE owner_id = 'alice'") == 1


async def test_deleting_a_user_deletes_their_tasks(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await client.post("/api/v1/alice/tasks", json={"title": "a"}, headers=auth())
    await client.post("/api/v1/bob/tasks", json={"title": "b"}, headers=auth("bob"))
    await db.execute("DELETE FROM users WHERE id = 'alice'")
    assert await db.fetchval("SELECT array_agg(owner_id) FROM tasks") == ["bob"]
