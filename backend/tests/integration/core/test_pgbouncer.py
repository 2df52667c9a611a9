"""Under `make test-pgbouncer` the app must really serve through PgBouncer, and in the
transaction pooling mode that breaks asyncpg's default prepared statements: with no
statement-cache setting at all, the app finds that out at the first error and goes on
without the cache, and no client sees an error."""

import asyncio
import logging
import os
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from app.core import database as database_module
from app.core.config import Settings
from tests.conftest import ClientFactory, app_state, auth
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


ROUNDS = 4
PER_ROUND = 40


async def _mixed_round(client: httpx.AsyncClient, round_number: int) -> list[httpx.Response]:
    """Concurrent requests of every kind of database work: single statements (create, list),
    transactions (Idempotency-Key, batch, the export's snapshot), and replayed keys."""

    async def create(n: int) -> httpx.Response:
        return await client.post(
            "/api/v1/alice/tasks", json={"title": f"r{round_number}-{n}"}, headers=auth()
        )

    async def keyed(n: int) -> httpx.Response:
        # Every second round sends the keys of the round before again: replays.
        key = f"{n}-{round_number // 2}"
        headers = {**auth(), "Idempotency-Key": key}
        return await client.post("/api/v1/alice/tasks", json={"title": f"k{key}"}, headers=headers)

    async def batch(n: int) -> httpx.Response:
        body = {"operations": [{"op": "create", "data": {"title": f"b{round_number}-{n}"}}]}
        return await client.post("/api/v1/alice/tasks/batch", json=body, headers=auth())

    async def listing(n: int) -> httpx.Response:
        return await client.get("/api/v1/alice/tasks?limit=5", headers=auth())

    async def export(n: int) -> httpx.Response:
        return await client.get("/api/v1/alice/export", headers=auth())

    kinds = (create, keyed, batch, listing)
    return await asyncio.gather(
        *(kinds[n % 4](n) for n in range(PER_ROUND)), *(export(n) for n in range(2))
    )


def _pooler_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING
        and record.getMessage() == database_module.POOLER_DETECTED_MESSAGE
    ]


async def test_prepared_statement_errors_switch_the_cache_off_without_failing_a_request(
    settings: Settings,
    client_with: ClientFactory,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.db_statement_cache_size is None, "run with no statement-cache setting"
    monkeypatch.setattr(database_module, "_pooler_reported", False)
    caplog.set_level(logging.WARNING, logger="app.database")
    acknowledged: list[str] = []
    for app_number in range(2):
        async with client_with() as client:
            database = app_state(client).database
            assert database.statement_cache_size == database_module.DEFAULT_STATEMENT_CACHE_SIZE
            for round_number in range(ROUNDS):
                responses = await _mixed_round(client, app_number * ROUNDS + round_number)
                assert [r.status_code for r in responses if r.status_code >= 300] == [], [
                    r.text for r in responses if r.status_code >= 300
                ]
                for response in responses:
                    if response.request.method == "POST" and response.status_code == 201:
                        if response.headers.get("Idempotent-Replayed") != "true":
                            acknowledged.append(response.json()["id"])
                    elif "results" in (body := response.json()):
                        acknowledged.extend(result["id"] for result in body["results"])
            # The pooler was found out, and the cache is off for every connection made now.
            assert database.statement_cache_size == 0
    # Once per process, however many pools found it.
    assert len(_pooler_warnings(caplog)) == 1
    # Every acknowledged create is stored once, and nothing else: no statement ran twice.
    stored = [str(row["id"]) for row in await db.fetch("SELECT id FROM tasks")]
    assert sorted(stored) == sorted(set(acknowledged))
    assert len(stored) == len(acknowledged)


async def test_an_explicit_zero_starts_without_the_cache_and_warns_of_nothing(
    client_with: ClientFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "_pooler_reported", False)
    caplog.set_level(logging.WARNING, logger="app.database")
    async with client_with(db_statement_cache_size=0) as client:
        assert app_state(client).database.statement_cache_size == 0
        responses = await _mixed_round(client, 0)
        assert {r.status_code for r in responses} <= {200, 201}
    assert _pooler_warnings(caplog) == []


async def test_an_export_that_meets_the_pooler_first_is_started_again(
    settings: Settings, client_with: ClientFactory
) -> None:
    """Concurrent exports alone: the first error comes inside the export's snapshot."""
    assert settings.db_statement_cache_size is None, "run with no statement-cache setting"
    async with client_with() as client:
        for n in range(3):
            await client.post("/api/v1/alice/tasks", json={"title": f"t{n}"}, headers=auth())
        database = app_state(client).database
        assert database.statement_cache_size == database_module.DEFAULT_STATEMENT_CACHE_SIZE
        for _ in range(ROUNDS):
            responses = await asyncio.gather(
                *(client.get("/api/v1/alice/export", headers=auth()) for _ in range(PER_ROUND))
            )
            assert [r.status_code for r in responses if r.status_code != 200] == []
            assert {len(r.json()["tasks"]) for r in responses} == {3}
        assert database.statement_cache_size == 0
