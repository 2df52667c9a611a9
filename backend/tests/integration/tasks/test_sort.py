"""GET /tasks?sort=: every field in both directions, ties by id in the same direction, tasks
without a due date last either way, paging through a sorted list, and 422s."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowInserter

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8000-{n:012d}")


async def order(client: httpx.AsyncClient, sort: str | None, **params: Any) -> list[str]:
    query = {**params, **({} if sort is None else {"sort": sort})}
    response = await client.get("/api/v1/alice/tasks", params=query, headers=auth())
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["tasks"]]


@pytest.fixture
async def tasks(insert_task: RowInserter) -> None:
    """Titles name the task; ids are inserted out of title order so that only the sort
    key and then the id decide. Another user's tasks interleave with every key."""
    rows: list[tuple[str, int, dict[str, Any]]] = [
        # title, id, columns
        ("apple", 5, {"minutes": 3, "updated": 9, "priority": 1, "due": 2}),
        ("Banana", 2, {"minutes": 1, "updated": 8, "priority": 3, "due": None}),
        ("cherry", 4, {"minutes": 2, "updated": 7, "priority": 0, "due": 1}),
        ("apple", 1, {"minutes": 3, "updated": 9, "priority": 1, "due": 2}),
        ("date", 3, {"minutes": 0, "updated": 6, "priority": 3, "due": None}),
        ("Elder", 6, {"minutes": 4, "updated": 5, "priority": 0, "due": 3}),
    ]
    for owner, offset in (("alice", 0), ("bob", 100)):
        for title, number, columns in rows:
            await insert_task(
                owner,
                task_id=uid(number + offset),
                title=f"{title} {number}" if owner == "alice" else f"bob {title}",
                created_at=T0 + timedelta(minutes=columns["minutes"]),
                updated_at=T0 + timedelta(hours=columns["updated"]),
                priority=columns["priority"],
                due_at=None if columns["due"] is None else T0 + timedelta(days=columns["due"]),
            )


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # created_at: minutes 4, 3 (ids 5, 1), 2, 1, 0
        (None, ["Elder 6", "apple 5", "apple 1", "cherry 4", "Banana 2", "date 3"]),
        ("-created_at", ["Elder 6", "apple 5", "apple 1", "cherry 4", "Banana 2", "date 3"]),
        ("created_at", ["date 3", "Banana 2", "cherry 4", "apple 1", "apple 5", "Elder 6"]),
        # updated_at: hours 9 (ids 1, 5), 8, 7, 6, 5
        ("updated_at", ["Elder 6", "date 3", "cherry 4", "Banana 2", "apple 1", "apple 5"]),
        ("-updated_at", ["apple 5", "apple 1", "Banana 2", "cherry 4", "date 3", "Elder 6"]),
        # priority: none (4, 6) < low (1, 5) < high (2, 3)
        ("priority", ["cherry 4", "Elder 6", "apple 1", "apple 5", "Banana 2", "date 3"]),
        ("-priority", ["date 3", "Banana 2", "apple 5", "apple 1", "Elder 6", "cherry 4"]),
        # due_at: day 1, 2 (ids 1, 5), 3, then no date (ids 2, 3) in the same direction
        ("due_at", ["cherry 4", "apple 1", "apple 5", "Elder 6", "Banana 2", "date 3"]),
        ("-due_at", ["Elder 6", "apple 5", "apple 1", "cherry 4", "date 3", "Banana 2"]),
        # title, case-insensitive: apple (1, 5), Banana, cherry, date, Elder
        ("title", ["apple 1", "apple 5", "Banana 2", "cherry 4", "date 3", "Elder 6"]),
        ("-title", ["Elder 6", "date 3", "cherry 4", "Banana 2", "apple 5", "apple 1"]),
    ],
)
async def test_every_sort_in_both_directions(
    client: httpx.AsyncClient, tasks: None, sort: str | None, expected: list[str]
) -> None:
    assert await order(client, sort) == expected


@pytest.mark.parametrize("sort", ["title", "-title"])
async def test_titles_that_differ_only_in_case_tie_and_fall_back_to_id(
    client: httpx.AsyncClient, insert_task: RowInserter, sort: str
) -> None:
    for number, title in ((2, "milk"), (3, "MILK"), (1, "Milk")):
        await insert_task(task_id=uid(number), title=title, created_at=T0)
    expected = ["Milk", "milk", "MILK"]
    assert await order(client, sort) == (expected if sort == "title" else expected[::-1])


@pytest.mark.parametrize("sort", ["due_at", "-due_at"])
async def test_tasks_without_a_due_date_come_last_in_either_direction(
    client: httpx.AsyncClient, insert_task: RowInserter, sort: str
) -> None:
    for n in range(4):
        await insert_task(
            task_id=uid(n),
            title=f"no date {n}",
            created_at=T0 + timedelta(minutes=n),
        )
        await insert_task(
            task_id=uid(10 + n),
            title=f"due {n}",
            created_at=T0,
            due_at=T0 + timedelta(days=n),
        )
    titles = await order(client, sort)
    assert all(title.startswith("due") for title in titles[:4])
    assert all(title.startswith("no date") for title in titles[4:])
    if sort == "due_at":
        assert titles == [f"due {n}" for n in range(4)] + [f"no date {n}" for n in range(4)]
    else:
        assert titles == [f"due {n}" for n in (3, 2, 1, 0)] + [f"no date {n}" for n in (3, 2, 1, 0)]


@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "due_at", "-due_at", "priority", "-title", "-updated_at"]
)
async def test_pages_of_a_sorted_list_have_no_gaps_or_repeats(
    client: httpx.AsyncClient, insert_task: RowInserter, sort: str
) -> None:
    # Many equal keys, so that the id tie-break is what keeps pages stable.
    for n in range(11):
        await insert_task(
            task_id=uid(n),
            title=f"t{n % 3}",
            created_at=T0 + timedelta(minutes=n % 2),
            updated_at=T0,
            priority=n % 4,
            due_at=None if n % 3 == 0 else T0 + timedelta(days=n % 2),
        )
    whole = await order(client, sort, limit=100)
    assert len(whole) == 11
    paged: list[str] = []
    for offset in range(0, 11, 3):
        response = await client.get(
            "/api/v1/alice/tasks",
            params={"sort": sort, "limit": 3, "offset": offset},
            headers=auth(),
        )
        body = response.json()
        assert body["total"] == 11
        paged += [task["id"] for task in body["tasks"]]
    all_ids = await client.get(
        "/api/v1/alice/tasks", params={"sort": sort, "limit": 100}, headers=auth()
    )
    assert paged == [task["id"] for task in all_ids.json()["tasks"]]
    assert len(set(paged)) == 11


async def test_sort_combines_with_filters(client: httpx.AsyncClient, tasks: None) -> None:
    assert await order(client, "-priority", priority="low,high") == [
        "date 3",
        "Banana 2",
        "apple 5",
        "apple 1",
    ]
    assert await order(client, "title", due_after="2026-01-02T12:00:00Z") == [
        "apple 1",
        "apple 5",
        "Elder 6",
    ]


@pytest.mark.parametrize(
    "sort",
    [
        "name",
        "+title",
        "--title",
        "title,-due_at",
        "TITLE",
        "-",
        "",
        "id",
        "owner_id",
        "title desc",
    ],
)
async def test_unknown_sorts_are_422_with_a_code(client: httpx.AsyncClient, sort: str) -> None:
    response = await client.get("/api/v1/alice/tasks", params={"sort": sort}, headers=auth())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["detail"][0]["loc"] == ["query", "sort"]
