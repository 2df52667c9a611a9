"""Repeating tasks: recurrence, time_zone and reminders as data, the next occurrence created on
completion by every route, exactly once, and the list filters of a series."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import TaskMaker

pytestmark = pytest.mark.anyio

Json = dict[str, Any]
BERLIN_MORNING = "2026-03-27T09:00:00+01:00"


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: Any = None, owner: str = "alice"
) -> httpx.Response:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    return await client.request(
        method, f"/api/v1/{owner}/tasks{path}", headers=auth(owner), **kwargs
    )


async def complete(client: httpx.AsyncClient, task_id: str, owner: str = "alice") -> Json:
    response = await send(client, "PATCH", f"/{task_id}/complete", {"completed": True}, owner)
    assert response.status_code == 200, response.text
    task: Json = response.json()
    return task


async def get(client: httpx.AsyncClient, task_id: str, owner: str = "alice") -> Json:
    response = await send(client, "GET", f"/{task_id}", owner=owner)
    assert response.status_code == 200, response.text
    task: Json = response.json()
    return task


async def series(client: httpx.AsyncClient, series_id: str, owner: str = "alice") -> list[Json]:
    response = await client.get(
        f"/api/v1/{owner}/tasks",
        params={"series_id": series_id, "sort": "due_at", "limit": 100},
        headers=auth(owner),
    )
    assert response.status_code == 200, response.text
    tasks: list[Json] = response.json()["tasks"]
    return tasks


async def stored_series(db: asyncpg.Connection, series_id: str) -> list[asyncpg.Record]:
    """Every occurrence of a series, trash included, straight from the table."""
    return await db.fetch(
        "SELECT id, due_at, occurrence, next_id, deleted_at FROM tasks "
        "WHERE series_id = $1::uuid ORDER BY occurrence",
        series_id,
    )


async def test_a_repeating_task_carries_its_fields(create_task: TaskMaker) -> None:
    task = await create_task(
        title="Standup",
        due_at=BERLIN_MORNING,
        recurrence="FREQ=WEEKLY;BYDAY=MO,WE,FR",
        time_zone="Europe/Berlin",
        reminders=["P1D", "PT900S", "PT15M", "PT0S", "P1W"],
    )
    assert task["recurrence"] == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    assert task["time_zone"] == "Europe/Berlin"
    assert task["reminders"] == ["PT0S", "PT15M", "P1D", "P7D"]
    assert task["series_id"] == task["id"]
    assert task["next_id"] is None


async def test_a_plain_task_has_the_defaults(create_task: TaskMaker) -> None:
    task = await create_task()
    assert (task["recurrence"], task["time_zone"], task["reminders"]) == (None, "UTC", [])
    assert (task["series_id"], task["next_id"]) == (None, None)


async def test_the_rule_is_stored_as_given(create_task: TaskMaker) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="freq=daily;interval=2")
    assert task["recurrence"] == "freq=daily;interval=2"


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY",
        "FREQ=HOURLY",
        "FREQ=DAILY;BYSETPOS=1",
        "FREQ=DAILY;BYHOUR=9",
        "FREQ=DAILY;X-NAME=1",
        "RRULE:FREQ=DAILY",
        "FREQ",
        "FREQ=DAILY;",
        "INTERVAL=2",
        "FREQ=DAILY;FREQ=WEEKLY",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=1001",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;COUNT=1001",
        "FREQ=DAILY;COUNT=5;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=20270101T000000",
        "FREQ=DAILY;UNTIL=20270231T000000Z",
        "FREQ=WEEKLY;BYDAY=1MO",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=MONTHLY;BYDAY=6MO",
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "FREQ=WEEKLY;BYMONTHDAY=1",
        "FREQ=YEARLY;BYMONTH=13",
        "FREQ=DAILY;WKST=XX",
        # Never a date after due_at (2026-01-01T10:00:00Z):
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;UNTIL=20260101T000000Z",
        "FREQ=DAILY;COUNT=1",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;INTERVAL=7;BYDAY=FR",
        "FREQ=DAILY\u0000",
        "",
    ],
)
async def test_an_unsupported_rule_is_422_naming_recurrence(
    client: httpx.AsyncClient, db: asyncpg.Connection, rule: str
) -> None:
    body = {"title": "t", "due_at": "2026-01-01T10:00:00Z", "recurrence": rule}
    response = await send(client, "POST", "", body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert "recurrence" in str(response.json()["detail"])
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "FREQ=YEARLY;BYDAY=20MO",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU;WKST=SU",
        "FREQ=DAILY;COUNT=2",
        "FREQ=DAILY;UNTIL=20260102T100000Z",
        "FREQ=YEARLY;INTERVAL=1000",
    ],
)
async def test_supported_rules_are_accepted(create_task: TaskMaker, rule: str) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence=rule)
    assert task["recurrence"] == rule


async def test_a_rule_needs_a_due_date(client: httpx.AsyncClient, create_task: TaskMaker) -> None:
    response = await send(client, "POST", "", {"title": "t", "recurrence": "FREQ=DAILY"})
    assert response.status_code == 422
    assert "recurrence" in str(response.json()["detail"])
    plain = await create_task()
    response = await send(client, "PATCH", f"/{plain['id']}", {"recurrence": "FREQ=DAILY"})
    assert response.status_code == 422
    assert "recurrence" in str(response.json()["detail"])
    assert (await get(client, plain["id"]))["recurrence"] is None
    response = await send(
        client, "PUT", f"/{plain['id']}", {"title": "t", "recurrence": "FREQ=DAILY"}
    )
    assert response.status_code == 422


async def test_clearing_the_due_date_of_a_repeating_task_needs_clearing_the_rule(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY")
    response = await send(client, "PATCH", f"/{task['id']}", {"due_at": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "due_at"]
    assert (await get(client, task["id"]))["due_at"] == "2026-01-01T10:00:00Z"
    response = await send(client, "PATCH", f"/{task['id']}", {"due_at": None, "recurrence": None})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["due_at"], changed["recurrence"]) == (None, None)
    # It was a series: it keeps its id.
    assert changed["series_id"] == task["id"]


async def test_a_new_due_date_must_still_repeat(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(
        due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY;UNTIL=20260110T000000Z"
    )
    response = await send(client, "PATCH", f"/{task['id']}", {"due_at": "2026-02-01T10:00:00Z"})
    assert response.status_code == 422
    assert "recurrence" in str(response.json()["detail"])
    response = await send(client, "PATCH", f"/{task['id']}", {"due_at": "2026-01-05T10:00:00Z"})
    assert response.status_code == 200, response.text
    assert response.json()["due_at"] == "2026-01-05T10:00:00Z"


async def test_setting_a_rule_later_starts_a_series(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", time_zone="Europe/Berlin")
    response = await send(client, "PATCH", f"/{task['id']}", {"recurrence": "FREQ=DAILY"})
    assert response.status_code == 200, response.text
    assert response.json()["series_id"] == task["id"]
    assert response.json()["version"] == 2


@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/berlin", "", "../etc/passwd", 5, None])
async def test_an_unknown_time_zone_is_422(
    client: httpx.AsyncClient, create_task: TaskMaker, zone: Any
) -> None:
    response = await send(client, "POST", "", {"title": "t", "time_zone": zone})
    assert response.status_code == 422
    task = await create_task()
    response = await send(client, "PATCH", f"/{task['id']}", {"time_zone": zone})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "reminders",
    [
        ["PT1M", "PT2M", "PT3M", "PT4M", "PT5M", "PT6M"],
        ["P29D"],
        ["PT672H1S"],
        ["P1M"],
        ["PT1.5M"],
        ["-PT5M"],
        ["P"],
        ["PT"],
        [15],
        "PT15M",
        None,
    ],
)
async def test_invalid_reminders_are_422(client: httpx.AsyncClient, reminders: Any) -> None:
    response = await send(client, "POST", "", {"title": "t", "reminders": reminders})
    assert response.status_code == 422, response.text


async def test_reminders_collapse_and_sort(create_task: TaskMaker) -> None:
    six_with_a_duplicate = ["P28D", "PT60M", "PT1H", "PT0S", "PT30S", "PT86400S"]
    task = await create_task(reminders=six_with_a_duplicate)
    assert task["reminders"] == ["PT0S", "PT30S", "PT1H", "P1D", "P28D"]


async def test_the_dst_example(client: httpx.AsyncClient, create_task: TaskMaker) -> None:
    task = await create_task(
        title="Water the plants",
        description="balcony",
        priority="high",
        tags=["home"],
        due_at=BERLIN_MORNING,
        recurrence="FREQ=DAILY",
        time_zone="Europe/Berlin",
        reminders=["PT15M"],
    )
    done = await complete(client, task["id"])
    assert done["completed"] is True
    assert done["next_id"] is not None
    second = await get(client, done["next_id"])
    assert second["due_at"] == "2026-03-28T08:00:00Z"
    for name in ("title", "description", "priority", "tags", "recurrence", "time_zone"):
        assert second[name] == task[name], name
    assert second["reminders"] == ["PT15M"]
    assert (second["completed"], second["completed_at"], second["next_id"]) == (False, None, None)
    assert second["series_id"] == task["id"]
    assert second["id"] != task["id"]
    assert second["version"] == 1
    third = await get(client, (await complete(client, second["id"]))["next_id"])
    # Berlin moved to summer time that night: still 09:00 there.
    assert third["due_at"] == "2026-03-29T07:00:00Z"


async def test_a_time_in_the_spring_forward_gap_moves_forward(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    # 02:30 in Berlin on the 28th; on the 29th 02:00-03:00 does not exist.
    task = await create_task(
        due_at="2026-03-28T01:30:00Z", recurrence="FREQ=DAILY", time_zone="Europe/Berlin"
    )
    following = await get(client, (await complete(client, task["id"]))["next_id"])
    assert following["due_at"] == "2026-03-29T01:30:00Z"  # 03:30 summer time


async def test_a_time_that_happens_twice_takes_the_first(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    # 02:30 in Berlin on 24 October; on the 25th 02:30 happens in summer time, then again.
    task = await create_task(
        due_at="2026-10-24T00:30:00Z", recurrence="FREQ=DAILY", time_zone="Europe/Berlin"
    )
    following = await get(client, (await complete(client, task["id"]))["next_id"])
    assert following["due_at"] == "2026-10-25T00:30:00Z"


async def complete_along(client: httpx.AsyncClient, task: Json, times: int) -> list[str]:
    """Complete each next occurrence in turn; the due dates seen, the first task's included."""
    dues = [task["due_at"]]
    for _ in range(times):
        done = await complete(client, task["id"])
        if done["next_id"] is None:
            break
        task = await get(client, done["next_id"])
        dues.append(task["due_at"])
    return dues


async def test_monthly_on_the_last_friday(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-30T10:00:00Z", recurrence="FREQ=MONTHLY;BYDAY=-1FR")
    assert await complete_along(client, task, 3) == [
        "2026-01-30T10:00:00Z",
        "2026-02-27T10:00:00Z",
        "2026-03-27T10:00:00Z",
        "2026-04-24T10:00:00Z",
    ]


async def test_monthly_on_the_31st_skips_shorter_months(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-31T10:00:00Z", recurrence="FREQ=MONTHLY;BYMONTHDAY=31")
    assert await complete_along(client, task, 3) == [
        "2026-01-31T10:00:00Z",
        "2026-03-31T10:00:00Z",
        "2026-05-31T10:00:00Z",
        "2026-07-31T10:00:00Z",
    ]


async def test_count_counts_the_occurrences_of_the_series(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=WEEKLY;COUNT=3")
    assert await complete_along(client, task, 5) == [
        "2026-01-01T10:00:00Z",
        "2026-01-08T10:00:00Z",
        "2026-01-15T10:00:00Z",
    ]
    rows = await stored_series(db, task["id"])
    assert [row["occurrence"] for row in rows] == [1, 2, 3]
    assert rows[-1]["next_id"] is None


async def test_until_bounds_the_series(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await create_task(
        due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY;UNTIL=20260103T100000Z"
    )
    assert await complete_along(client, task, 5) == [
        "2026-01-01T10:00:00Z",
        "2026-01-02T10:00:00Z",
        "2026-01-03T10:00:00Z",
    ]
    assert len(await stored_series(db, task["id"])) == 3


async def test_an_occurrence_moved_by_hand_carries_the_series_from_there(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=WEEKLY")
    second = await get(client, (await complete(client, task["id"]))["next_id"])
    response = await send(client, "PATCH", f"/{second['id']}", {"due_at": "2026-01-10T18:00:00Z"})
    assert response.status_code == 200, response.text
    third = await get(client, (await complete(client, second["id"]))["next_id"])
    assert third["due_at"] == "2026-01-17T18:00:00Z"


async def test_editing_an_occurrence_leaves_the_created_ones(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY")
    second_id = (await complete(client, task["id"]))["next_id"]
    body = {"recurrence": "FREQ=WEEKLY", "time_zone": "Asia/Tokyo"}
    response = await send(client, "PATCH", f"/{task['id']}", body)
    assert response.status_code == 200, response.text
    second = await get(client, second_id)
    assert (second["recurrence"], second["time_zone"]) == ("FREQ=DAILY", "UTC")
    third = await get(client, (await complete(client, second_id))["next_id"])
    assert third["due_at"] == "2026-01-03T10:00:00Z"


async def test_clearing_the_rule_ends_the_series_there(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY")
    response = await send(client, "PATCH", f"/{task['id']}", {"recurrence": None})
    assert response.status_code == 200
    done = await complete(client, task["id"])
    assert done["next_id"] is None
    assert len(await series(client, task["id"])) == 1


async def _repeating(create_task: TaskMaker) -> Json:
    return await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY")


ROUTES = ["complete", "toggle", "patch", "put", "batch complete", "batch update"]


async def _complete_by(client: httpx.AsyncClient, route: str, task: Json) -> Json:
    task_id = task["id"]
    if route in ("complete", "toggle"):
        body = {"completed": True} if route == "complete" else None
        response = await send(client, "PATCH", f"/{task_id}/complete", body)
    elif route == "patch":
        response = await send(client, "PATCH", f"/{task_id}", {"completed": True})
    elif route == "put":
        body = {
            key: task[key]
            for key in ("title", "due_at", "recurrence", "time_zone", "reminders", "tags")
        }
        response = await send(client, "PUT", f"/{task_id}", {**body, "completed": True})
    else:
        operation = (
            {"op": "complete", "id": task_id, "completed": True}
            if route == "batch complete"
            else {"op": "update", "id": task_id, "data": {"completed": True}}
        )
        response = await send(client, "POST", "/batch", {"operations": [operation]})
        assert response.status_code == 200, response.text
        result: Json = response.json()["results"][0]
        assert result["status"] == 200, result
        done: Json = result["task"]
        return done
    assert response.status_code == 200, response.text
    answer: Json = response.json()
    return answer


@pytest.mark.parametrize("route", ROUTES)
async def test_every_completing_route_creates_the_next_occurrence(
    client: httpx.AsyncClient, create_task: TaskMaker, route: str
) -> None:
    task = await _repeating(create_task)
    done = await _complete_by(client, route, task)
    assert done["completed"] is True
    assert done["next_id"] is not None
    assert done["version"] == 2
    following = await get(client, done["next_id"])
    assert following["due_at"] == "2026-01-02T10:00:00Z"
    assert [t["id"] for t in await series(client, task["id"])] == [task["id"], following["id"]]
    # Completing the same occurrence again by the same route creates nothing more.
    again = await _complete_by(client, route if route != "toggle" else "complete", done)
    assert again["next_id"] == done["next_id"]
    assert len(await series(client, task["id"])) == 2


async def test_a_completing_write_that_also_sets_the_rule_uses_it(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z")
    body = {"completed": True, "recurrence": "FREQ=WEEKLY"}
    response = await send(client, "PATCH", f"/{task['id']}", body)
    assert response.status_code == 200, response.text
    following = await get(client, response.json()["next_id"])
    assert following["due_at"] == "2026-01-08T10:00:00Z"
    assert following["series_id"] == task["id"]


async def test_a_precondition_still_holds_when_completing_a_repeating_task(
    client: httpx.AsyncClient, create_task: TaskMaker, db: asyncpg.Connection
) -> None:
    task = await _repeating(create_task)
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}/complete",
        json={"completed": True},
        headers={**auth(), "If-Match": '"7"'},
    )
    assert response.status_code == 412
    assert await db.fetchval("SELECT count(*) FROM tasks") == 1
    response = await client.patch(
        f"/api/v1/alice/tasks/{task['id']}/complete",
        json={"completed": True},
        headers={**auth(), "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'


async def test_reopening_and_completing_again_creates_no_second_occurrence(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    first = await complete(client, task["id"])
    response = await send(client, "PATCH", f"/{task['id']}/complete", {"completed": False})
    assert response.status_code == 200
    assert response.json()["next_id"] == first["next_id"]
    response = await send(client, "PATCH", f"/{task['id']}/complete")  # toggle
    assert response.json()["completed"] is True
    assert response.json()["next_id"] == first["next_id"]
    assert len(await series(client, task["id"])) == 2


async def test_trashing_the_next_occurrence_does_not_let_another_be_created(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    next_id = (await complete(client, task["id"]))["next_id"]
    assert (await send(client, "DELETE", f"/{next_id}")).status_code == 204
    await send(client, "PATCH", f"/{task['id']}/complete", {"completed": False})
    done = await complete(client, task["id"])
    assert done["next_id"] == next_id
    assert [t["id"] for t in await series(client, task["id"])] == [task["id"]]
    assert len(await stored_series(db, task["id"])) == 2
    # Not even once it is removed for good.
    assert (await send(client, "DELETE", f"/trash/{next_id}")).status_code == 204
    await send(client, "PATCH", f"/{task['id']}/complete", {"completed": False})
    assert (await complete(client, task["id"]))["next_id"] == next_id
    assert len(await stored_series(db, task["id"])) == 1


async def test_a_batch_completing_twice_creates_one_occurrence(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    operations = [
        {"op": "complete", "id": task["id"], "completed": True},
        {"op": "complete", "id": task["id"], "completed": False},
        {"op": "update", "id": task["id"], "data": {"completed": True}},
        {"op": "complete", "id": task["id"]},
        {"op": "complete", "id": task["id"]},
    ]
    response = await send(client, "POST", "/batch", {"operations": operations})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200] * 5
    next_ids = {r["task"]["next_id"] for r in results}
    assert len(next_ids) == 1
    assert None not in next_ids
    assert len(await stored_series(db, task["id"])) == 2


async def test_an_atomic_batch_that_fails_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    operations = [
        {"op": "complete", "id": task["id"], "completed": True},
        {"op": "update", "id": task["id"], "data": {"title": ""}},
    ]
    body = {"operations": operations, "atomic": True}
    response = await send(client, "POST", "/batch", body)
    assert response.status_code == 409
    assert await db.fetchval("SELECT count(*) FROM tasks") == 1
    assert (await get(client, task["id"]))["next_id"] is None


async def test_concurrent_completions_create_one_occurrence(
    client: httpx.AsyncClient, db: asyncpg.Connection, create_task: TaskMaker
) -> None:
    tasks = [await _repeating(create_task) for _ in range(5)]
    bodies = [{"completed": True}, None, {"completed": True}, None]

    async def race(task: Json) -> list[httpx.Response]:
        return await asyncio.gather(
            *(send(client, "PATCH", f"/{task['id']}/complete", body) for body in bodies),
            send(client, "PATCH", f"/{task['id']}", {"completed": True}),
        )

    for task, responses in zip(tasks, await asyncio.gather(*map(race, tasks)), strict=True):
        assert {r.status_code for r in responses} == {200}
        rows = await stored_series(db, task["id"])
        assert len(rows) == 2, rows
        assert rows[0]["next_id"] == rows[1]["id"]


async def test_the_new_occurrence_is_a_change_of_its_own(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    response = await client.get("/api/v1/alice/tasks/changes", headers=auth())
    cursor = response.json()["cursor"]
    done = await complete(client, task["id"])
    response = await client.get(
        "/api/v1/alice/tasks/changes", params={"since": cursor}, headers=auth()
    )
    changes = response.json()["changes"]
    assert [c["id"] for c in changes] == [task["id"], done["next_id"]]
    assert changes[0]["next_id"] == done["next_id"]
    assert changes[1]["series_id"] == task["id"]
    assert changes[1]["due_at"] == "2026-01-02T10:00:00Z"


async def test_a_task_created_completed_creates_no_occurrence(create_task: TaskMaker) -> None:
    task = await create_task(due_at="2026-01-01T10:00:00Z", recurrence="FREQ=DAILY", completed=True)
    assert task["next_id"] is None


async def test_list_filters_recurring_and_series(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    plain = await create_task(title="plain")
    task = await _repeating(create_task)
    other = await _repeating(create_task)
    next_id = (await complete(client, task["id"]))["next_id"]

    async def listed(**params: Any) -> list[str]:
        response = await client.get("/api/v1/alice/tasks", params=params, headers=auth())
        assert response.status_code == 200, response.text
        return sorted(t["id"] for t in response.json()["tasks"])

    assert await listed(recurring="true") == sorted([task["id"], next_id, other["id"]])
    assert await listed(recurring="false") == [plain["id"]]
    assert await listed(series_id=task["id"]) == sorted([task["id"], next_id])
    assert await listed(series_id=task["id"], completed="false") == [next_id]
    assert await listed(series_id=task["id"], recurring="false") == []
    response = await client.get(
        "/api/v1/alice/tasks", params={"series_id": "not-a-uuid"}, headers=auth()
    )
    assert response.status_code == 422


async def test_another_users_series_is_invisible(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    next_id = (await complete(client, task["id"]))["next_id"]
    response = await client.get(
        "/api/v1/bob/tasks", params={"series_id": task["id"]}, headers=auth("bob")
    )
    assert response.status_code == 200
    assert response.json()["tasks"] == []
    for path in (f"/{next_id}", f"/{task['id']}"):
        assert (await send(client, "GET", path, owner="bob")).status_code == 404
    response = await send(client, "PATCH", f"/{task['id']}/complete", {"completed": False}, "bob")
    assert response.status_code == 404
    assert (await get(client, task["id"]))["completed"] is True


async def test_export_carries_the_new_fields(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await _repeating(create_task)
    done = await complete(client, task["id"])
    response = await client.get("/api/v1/alice/export", headers=auth())
    assert response.status_code == 200
    exported = {t["id"]: t for t in response.json()["tasks"]}
    assert exported[task["id"]]["next_id"] == done["next_id"]
    assert exported[done["next_id"]]["series_id"] == task["id"]
    assert exported[done["next_id"]]["recurrence"] == "FREQ=DAILY"
