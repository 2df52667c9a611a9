"""Under `make test-pgbouncer` the app must really serve through PgBouncer, and in the
transaction pooling mode that breaks asyncpg's default prepared statements."""

import asyncio
import os
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import auth
from tests.support.pgbouncer import pgbouncer_show

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL_DIRECT"),
        reason="runs under `make test-pgbouncer` only",
    ),
]


async def test_the_app_serves_through_pgbouncer_in_transaction_mode(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    assert settings.database_url is not None
    database = urlsplit(settings.database_url).path.lstrip("/")

    def transactions() -> int:
        rows = pgbouncer_show(settings.database_url or "", "STATS")
        return sum(int(row["total_xact_count"]) for row in rows if row["database"] == database)

    before = transactions()
    # Concurrent requests share server connections, which is what breaks named statements.
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/alice/tasks", json={"title": f"t{n}"}, headers=auth())
            for n in range(40)
        )
    )
    assert {r.status_code for r in responses} == {201}
    listed = await asyncio.gather(
        *(client.get("/api/v1/alice/tasks", headers=auth()) for _ in range(40))
    )
    assert {r.json()["total"] for r in listed} == {40}
    assert transactions() >= before + 80
    pools = [
        row for row in pgbouncer_show(settings.database_url, "POOLS") if row["database"] == database
    ]
    assert pools, "the test database is not pooled by PgBouncer"
    assert {row["pool_mode"] for row in pools} == {"transaction"}
