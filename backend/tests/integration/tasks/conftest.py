"""Fixtures of the task route tests: tasks made through the API, and rows read straight
from the database to check what was (not) stored."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth

Json = dict[str, Any]
TaskMaker = Callable[..., Awaitable[Json]]
RowReader = Callable[[str], Awaitable[Json | None]]
RowInserter = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client


@pytest.fixture
def create_task(client: httpx.AsyncClient) -> TaskMaker:
    """POST a task as `owner` (alice by default) and return the created Task."""

    async def create(owner: str = "alice", **fields: Any) -> Json:
        body = {"title": "A task", **fields}
        response = await client.post(f"/api/v1/{owner}/tasks", json=body, headers=auth(owner))
        assert response.status_code == 201, response.text
        task: Json = response.json()
        return task

    return create


@pytest.fixture
def task_row(db: asyncpg.Connection) -> RowReader:
    """The stored row of a task, or None."""

    async def read(task_id: str) -> Json | None:
        row = await db.fetchrow("SELECT * FROM tasks WHERE id = $1", uuid.UUID(task_id))
        return None if row is None else dict(row)

    return read


@pytest.fixture
def insert_task(db: asyncpg.Connection) -> RowInserter:
    """Store a task directly, with chosen timestamps (and its owner's row if missing)."""

    async def insert(
        owner: str = "alice",
        *,
        created_at: datetime,
        title: str = "Stored",
        completed: bool = False,
        task_id: uuid.UUID | None = None,
        **columns: Any,
    ) -> uuid.UUID:
        """`columns`: any other column's value (description, priority, due_at, tags, ...)."""
        await db.execute("INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING", owner)
        values = {"updated_at": created_at, **columns}
        names = "".join(f", {name}" for name in values)
        params = "".join(f", ${index}" for index in range(6, 6 + len(values)))
        new_id: uuid.UUID = await db.fetchval(
            f"INSERT INTO tasks (id, owner_id, title, completed, created_at{names}) "
            f"VALUES (COALESCE($1, gen_random_uuid()), $2, $3, $4, $5{params}) RETURNING id",
            task_id,
            owner,
            title,
            completed,
            created_at,
            *values.values(),
        )
        return new_id

    return insert
