"""`make bench` turns the outbox off around its "before the outbox" runs: only the triggers
that exist, and always on again, even when the run fails."""

import asyncio

import asyncpg
import pytest

from app.core.database import parse_database_url
from bench import database


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def outbox_state(url: str) -> object:
    return asyncio.run(
        _fetchval(url, "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'tasks_outbox'")
    )


async def _events_of_a_new_task(url: str) -> int:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await conn.execute("INSERT INTO users (id) VALUES ('bench-toggle') ON CONFLICT DO NOTHING")
        task = await conn.fetchval(
            "INSERT INTO tasks (owner_id, title) VALUES ('bench-toggle', 'toggled') RETURNING id"
        )
        count: int = await conn.fetchval("SELECT count(*) FROM events WHERE task_id = $1", task)
        return count
    finally:
        await conn.close()


def events_of_a_new_task(url: str) -> int:
    return asyncio.run(_events_of_a_new_task(url))


def test_the_outbox_is_off_inside_and_on_again_after(database_url: str) -> None:
    assert events_of_a_new_task(database_url) == 1
    with database.outbox_disabled(database_url) as disabled:
        assert "tasks_outbox" in disabled
        assert set(disabled) <= set(database.OUTBOX_TRIGGERS)
        assert outbox_state(database_url) == "D"
        assert events_of_a_new_task(database_url) == 0
    assert outbox_state(database_url) == "O"
    assert events_of_a_new_task(database_url) == 1


def test_a_failed_run_leaves_the_outbox_on(database_url: str) -> None:
    def failed_run() -> None:
        with database.outbox_disabled(database_url):
            assert outbox_state(database_url) == "D"
            raise RuntimeError("wrk failed")

    with pytest.raises(RuntimeError, match="wrk failed"):
        failed_run()
    assert outbox_state(database_url) == "O"


def test_triggers_not_in_the_database_are_skipped(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "OUTBOX_TRIGGERS", ("no_such_trigger", "tasks_outbox"))
    with database.outbox_disabled(database_url) as disabled:
        assert disabled == ("tasks_outbox",)
    assert outbox_state(database_url) == "O"
