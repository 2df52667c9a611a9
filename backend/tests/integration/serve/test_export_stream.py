"""The export under the real server: a client that leaves mid-stream gets nothing more, and
the connection and transaction the export held go back at once."""

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import auth
from tests.integration.serve.served_app import ServedApp, served_app, wait_for

pytestmark = pytest.mark.anyio

POOL_SIZE = 2
TASKS = 20_000  # megabytes of JSON: far more than socket buffers hold


@pytest.fixture(scope="module")
def app(database_url: str) -> Iterator[ServedApp]:
    with served_app(database_url, database_url, DB_POOL_MAX_SIZE=str(POOL_SIZE)) as served:
        yield served


async def test_clients_leaving_mid_export_leak_no_connection(
    app: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    await db.execute("INSERT INTO users (id) VALUES ('alice')")
    await db.execute(
        "INSERT INTO tasks (owner_id, title, description) "
        "SELECT 'alice', 'task ' || n, repeat('d', 300) FROM generate_series(1, $1) n",
        TASKS,
    )
    async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as http:
        for _ in range(POOL_SIZE + 2):
            async with http.stream("GET", "/api/v1/alice/export", headers=auth()) as response:
                assert response.status_code == 200
                async for _chunk in response.aiter_bytes():
                    break  # and go away

        async def no_export_left_open() -> bool:
            count = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
            return bool(count == 0)

        await wait_for("the exports' transactions are closed", no_export_left_open, 5)
        # Every pooled connection is usable: more requests than the pool, none waiting long.
        answers = await asyncio.gather(
            *(http.get("/api/v1/alice/tasks?limit=1", headers=auth()) for _ in range(6))
        )
        assert [answer.status_code for answer in answers] == [200] * 6
        whole = await http.get("/api/v1/alice/export", headers=auth())
        assert len(orjson.loads(whole.content)["tasks"]) == TASKS
