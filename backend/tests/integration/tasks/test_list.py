"""GET /tasks: the envelope, newest first with ties by id, paging, and the completed filter."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowInserter, TaskMaker

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def list_tasks(
    client: httpx.AsyncClient, query: str = "", user: str = "alice"
) -> httpx.Response:
    response = await client.get(f"/api/v1/{user}/tasks{query}", headers=auth(user))
    assert response.status_code == 200, response.text
    return response


async def test_an_empty_list_has_the_envelope_with_defaults(client: httpx.AsyncClient) -> None:
    response = await list_tasks(client)
    assert response.json() == {"tasks": [], "total": 0, "limit": 50, "offset": 0}


async def test_the_list_is_newest_first(client: httpx.AsyncClient, create_task: TaskMaker) -> None:
    first = await create_task(title="first")
    second = await create_task(title="second")
    third = await create_task(title="third")
    body = (await list_tasks(client)).json()
    assert [task["id"] for task in body["tasks"]] == [third["id"], second["id"], first["id"]]
    assert body["tasks"][0] == third
    assert body["total"] == 3


async def test_equal_creation_times_are_ordered_by_id_descending(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    low = uuid.UUID("00000000-0000-4000-8000-000000000001")
    high = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")
    middle = uuid.UUID("80000000-0000-4000-8000-000000000000")
    for task_id in (middle, low, high):
        await insert_task(created_at=T0, task_id=task_id)
    ids = [task["id"] for task in (await list_tasks(client)).json()["tasks"]]
    assert ids == [str(high), str(middle), str(low)]


async def test_ordering_keeps_microseconds(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    # Inserted so that id order is the opposite of time order: only microseconds decide.
    later = await insert_task(
        created_at=T0 + timedelta(microseconds=2),
        task_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
    )
    earlier = await insert_task(
        created_at=T0 + timedelta(microseconds=1),
        task_id=uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"),
    )
    tasks = (await list_tasks(client)).json()["tasks"]
    assert [task["id"] for task in tasks] == [str(later), str(earlier)]
    assert tasks[0]["created_at"].startswith("2026-01-01T00:00:00.000002")
    assert tasks[1]["created_at"].startswith("2026-01-01T00:00:00.000001")


async def test_pages_walk_the_whole_list_without_gaps_or_repeats(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    ids = [await insert_task(created_at=T0 + timedelta(minutes=n)) for n in range(5)]
    newest_first = [str(task_id) for task_id in reversed(ids)]
    seen: list[str] = []
    for offset in (0, 2, 4):
        body = (await list_tasks(client, f"?limit=2&offset={offset}")).json()
        assert body["total"] == 5
        assert body["limit"] == 2
        assert body["offset"] == offset
        seen += [task["id"] for task in body["tasks"]]
    assert seen == newest_first


async def test_an_offset_past_the_end_gives_no_tasks_but_the_total(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    for n in range(3):
        await insert_task(created_at=T0 + timedelta(minutes=n))
    body = (await list_tasks(client, "?offset=3")).json()
    assert body == {"tasks": [], "total": 3, "limit": 50, "offset": 3}
    body = (await list_tasks(client, "?offset=9223372036854775807")).json()
    assert body["tasks"] == []
    assert body["total"] == 3


async def test_limit_bounds_are_inclusive(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    for n in range(101):
        await insert_task(created_at=T0 + timedelta(seconds=n))
    one = (await list_tasks(client, "?limit=1")).json()
    assert len(one["tasks"]) == 1
    assert one["total"] == 101
    hundred = (await list_tasks(client, "?limit=100")).json()
    assert len(hundred["tasks"]) == 100
    default = (await list_tasks(client)).json()
    assert len(default["tasks"]) == 50
    assert default["limit"] == 50


@pytest.mark.parametrize(
    ("query", "expected_titles"),
    [
        ("?completed=true", ["done 2", "done 1"]),
        ("?completed=false", ["open 1"]),
        ("?completed=1", ["done 2", "done 1"]),
        ("?completed=False", ["open 1"]),
        ("", ["done 2", "open 1", "done 1"]),
    ],
)
async def test_the_completed_filter_and_its_total(
    client: httpx.AsyncClient,
    insert_task: RowInserter,
    query: str,
    expected_titles: list[str],
) -> None:
    await insert_task(created_at=T0, title="done 1", completed=True)
    await insert_task(created_at=T0 + timedelta(seconds=1), title="open 1")
    await insert_task(created_at=T0 + timedelta(seconds=2), title="done 2", completed=True)
    body = (await list_tasks(client, query)).json()
    assert [task["title"] for task in body["tasks"]] == expected_titles
    assert body["total"] == len(expected_titles)


async def test_total_counts_the_filter_across_pages(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    for n in range(7):
        await insert_task(created_at=T0 + timedelta(seconds=n), completed=n % 2 == 0)
    body = (await list_tasks(client, "?completed=true&limit=2&offset=1")).json()
    assert body["total"] == 4
    assert len(body["tasks"]) == 2
    assert all(task["completed"] for task in body["tasks"])
