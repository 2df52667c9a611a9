"""GET /reminders: each open, live task's reminders (due_at minus each offset) in a window of
time, in order, the caller's only, served from the reminders index."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.reminders import service
from tests.conftest import auth
from tests.integration.tasks.conftest import RowInserter, TaskMaker

pytestmark = pytest.mark.anyio

Json = dict[str, Any]
FROM = "2026-05-01T00:00:00Z"
TO = "2026-05-08T00:00:00Z"


async def reminders(
    client: httpx.AsyncClient, start: str = FROM, end: str = TO, owner: str = "alice"
) -> httpx.Response:
    return await client.get(
        f"/api/v1/{owner}/reminders", params={"from": start, "to": end}, headers=auth(owner)
    )


async def listed(client: httpx.AsyncClient, start: str = FROM, end: str = TO) -> Json:
    response = await reminders(client, start, end)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def test_each_offset_is_a_reminder_in_order(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    first = await create_task(
        title="Dentist", due_at="2026-05-03T10:00:00Z", reminders=["PT0S", "P1D", "PT1H30M"]
    )
    second = await create_task(
        title="Call", due_at="2026-05-02T11:30:00Z", reminders=["PT30M", "P28D"]
    )
    body = await listed(client)
    assert body == {
        "reminders": [
            {
                "task_id": first["id"],
                "title": "Dentist",
                "remind_at": "2026-05-02T10:00:00Z",
                "due_at": "2026-05-03T10:00:00Z",
                "offset": "P1D",
            },
            {
                "task_id": second["id"],
                "title": "Call",
                "remind_at": "2026-05-02T11:00:00Z",
                "due_at": "2026-05-02T11:30:00Z",
                "offset": "PT30M",
            },
            {
                "task_id": first["id"],
                "title": "Dentist",
                "remind_at": "2026-05-03T08:30:00Z",
                "due_at": "2026-05-03T10:00:00Z",
                "offset": "PT1H30M",
            },
            {
                "task_id": first["id"],
                "title": "Dentist",
                "remind_at": "2026-05-03T10:00:00Z",
                "due_at": "2026-05-03T10:00:00Z",
                "offset": "PT0S",
            },
        ],
        "has_more": False,
    }


async def test_a_reminder_before_the_window_for_a_task_due_in_it_is_left_out(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task(due_at="2026-05-01T10:00:00Z", reminders=["P1D", "PT0S"])
    # 28 days before a task due after the window: inside it.
    late = await create_task(due_at="2026-05-29T00:00:00Z", reminders=["P28D"])
    body = await listed(client)
    assert [(r["remind_at"], r["offset"]) for r in body["reminders"]] == [
        ("2026-05-01T00:00:00Z", "P28D"),
        ("2026-05-01T10:00:00Z", "PT0S"),
    ]
    assert body["reminders"][0]["task_id"] == late["id"]


async def test_from_is_included_and_to_excluded(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task(due_at=FROM, reminders=["PT0S"])
    await create_task(due_at=TO, reminders=["PT0S"])
    body = await listed(client)
    assert [r["remind_at"] for r in body["reminders"]] == [FROM]


async def test_ties_are_ordered_by_task_id(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    ids = [
        (await create_task(due_at="2026-05-02T10:00:00Z", reminders=["PT0S"]))["id"]
        for _ in range(4)
    ]
    body = await listed(client)
    assert [r["task_id"] for r in body["reminders"]] == sorted(ids)


async def test_only_open_live_tasks_with_a_due_date_remind(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    kept = await create_task(due_at="2026-05-02T10:00:00Z", reminders=["PT0S"])
    done = await create_task(due_at="2026-05-02T10:00:00Z", reminders=["PT0S"], completed=True)
    trashed = await create_task(due_at="2026-05-02T10:00:00Z", reminders=["PT0S"])
    await create_task(reminders=["PT0S"])  # no due date
    await create_task(due_at="2026-05-02T10:00:00Z")  # no reminders
    delete = await client.delete(f"/api/v1/alice/tasks/{trashed['id']}", headers=auth())
    assert delete.status_code == 204
    body = await listed(client)
    assert [r["task_id"] for r in body["reminders"]] == [kept["id"]]
    # Reopened, a completed task reminds again.
    response = await client.patch(
        f"/api/v1/alice/tasks/{done['id']}/complete", json={"completed": False}, headers=auth()
    )
    assert response.status_code == 200
    body = await listed(client)
    assert {r["task_id"] for r in body["reminders"]} == {kept["id"], done["id"]}


async def test_a_repeating_tasks_next_occurrence_reminds(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(
        due_at="2026-04-30T10:00:00Z", recurrence="FREQ=DAILY", reminders=["PT15M"]
    )
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}/complete", json={"completed": True}, headers=auth()
    )
    next_id = response.json()["next_id"]
    body = await listed(client, FROM, "2026-05-02T00:00:00Z")
    assert [(r["task_id"], r["remind_at"]) for r in body["reminders"]] == [
        (next_id, "2026-05-01T09:45:00Z")
    ]


async def test_another_users_reminders_are_invisible(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task(due_at="2026-05-02T10:00:00Z", reminders=["PT0S"])
    response = await reminders(client, owner="bob")
    assert response.status_code == 200
    assert response.json() == {"reminders": [], "has_more": False}
    response = await client.get(
        "/api/v1/alice/reminders", params={"from": FROM, "to": TO}, headers=auth("bob")
    )
    assert response.status_code == 403


async def test_at_most_500_then_has_more(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    due = datetime(2026, 5, 2, tzinfo=UTC)
    offsets = ["PT0S", "PT1M", "PT2M", "PT3M", "PT4M"]
    for n in range(101):
        await insert_task(created_at=due, due_at=due + timedelta(minutes=10 * n), reminders=offsets)
    body = await listed(client)
    assert len(body["reminders"]) == 500
    assert body["has_more"] is True
    remind_at = [(r["remind_at"], r["task_id"]) for r in body["reminders"]]
    assert remind_at == sorted(remind_at)
    body = await listed(client, FROM, "2026-05-02T16:00:00Z")
    # 96 tasks due before 16:00, and four reminders of the one due at 16:00.
    assert (len(body["reminders"]), body["has_more"]) == (96 * 5 + 4, False)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": FROM},
        {"to": TO},
        {"from": TO, "to": FROM},
        {"from": FROM, "to": FROM},
        {"from": FROM, "to": "2026-06-01T00:00:01Z"},
        {"from": "2026-05-01", "to": TO},
        {"from": "2026-05-01T00:00:00", "to": TO},
        {"from": "yesterday", "to": TO},
        {"from": "1777593600", "to": TO},
        {"from": FROM, "to": "2026-05-08T00:00:00Z\u0000"},
    ],
)
async def test_a_bad_window_is_422(client: httpx.AsyncClient, params: Json) -> None:
    response = await client.get("/api/v1/alice/reminders", params=params, headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_a_window_of_31_days_is_accepted(client: httpx.AsyncClient) -> None:
    response = await reminders(client, FROM, "2026-06-01T00:00:00+00:00")
    assert response.status_code == 200


async def test_the_window_is_read_from_the_reminders_index(db: asyncpg.Connection) -> None:
    # Enough tasks of many owners that a scan would cost more than the index.
    await db.execute(
        """
        INSERT INTO users (id) SELECT 'user-' || u FROM generate_series(0, 200) AS u;
        INSERT INTO tasks (owner_id, title, due_at, reminders, completed)
        SELECT 'user-' || u, 't', now() + make_interval(hours => n),
               CASE WHEN n % 3 = 0 THEN '{PT15M,P1D}'::text[] ELSE '{}' END, n % 4 = 0
        FROM generate_series(0, 200) AS u, generate_series(1, 100) AS n;
        ANALYZE tasks;
        """
    )
    start = datetime.now(UTC)
    plan = await db.fetchval(
        f"EXPLAIN (FORMAT JSON) {service._REMINDERS}",
        "user-7",
        start,
        start + timedelta(days=7),
        timedelta(days=28),
        501,
    )
    text = json.dumps(plan)
    assert "ix_tasks_owner_reminders" in text
    assert "Seq Scan" not in text
