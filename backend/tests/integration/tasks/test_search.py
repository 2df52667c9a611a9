"""GET /tasks?q=: full-text search over title and description, on the real database."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import auth
from tests.integration.tasks.conftest import RowInserter, TaskMaker

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def search(
    client: httpx.AsyncClient, q: str, user: str = "alice", **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/{user}/tasks", params={"q": q, **params}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return sorted(task["title"] for task in body["tasks"])


@pytest.fixture
async def library(insert_task: RowInserter) -> None:
    tasks = [
        ("Buy milk", "two litres of oat milk"),
        ("Buy bread", None),
        ("Call the dentist", "about the crown; ask for Tuesday"),
        ("Milkshake recipe", None),
        ("Write report", "quarterly numbers for the board"),
        ("Fix e-mail filters", "user@example.com gets spam"),
        ("Pay rent", "transfer 1200.50 by Friday"),
        ("Ünïcode Straße", "Grüße an Zoë"),
        ("Don't forget", "it's (really) important!"),
    ]
    for n, (title, description) in enumerate(tasks):
        await insert_task(
            created_at=T0 + timedelta(minutes=n), title=title, description=description
        )


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("milk", ["Buy milk", "Milkshake recipe"]),  # last word: a prefix
        ("buy mi", ["Buy milk"]),  # every word must match
        ("BUY MILK", ["Buy milk"]),  # case-insensitive
        ("milk buy", ["Buy milk"]),  # in any order
        ("mi buy", []),  # only the last word is a prefix
        ("oat", ["Buy milk"]),  # the description is searched
        ("litres buy", ["Buy milk"]),  # words from title and description together
        ("tuesday dentist", ["Call the dentist"]),
        ("  buy   bread  ", ["Buy bread"]),
        ("buy\tbread\n", ["Buy bread"]),
        ("the", ["Call the dentist", "Write report"]),  # no stop words
        ("reports", []),  # no stemming: words are matched as written
        ("repo", ["Write report"]),
        ("straße", ["Ünïcode Straße"]),
        ("ünï", ["Ünïcode Straße"]),
        ("GRÜSSE", []),
        ("grüße zoë", ["Ünïcode Straße"]),
        ("e-mail", ["Fix e-mail filters"]),
        ("mail", ["Fix e-mail filters"]),
        ("user@example.com", ["Fix e-mail filters"]),
        ("1200.50", ["Pay rent"]),
        ("don't", ["Don't forget"]),
        ("important!", ["Don't forget"]),
        ("(really)", ["Don't forget"]),
        ("nothing-like-this", []),
    ],
)
async def test_search_words(
    client: httpx.AsyncClient, library: None, q: str, expected: list[str]
) -> None:
    body = await search(client, q)
    assert titles(body) == expected
    assert body["total"] == len(expected)


@pytest.mark.parametrize(
    "q",
    [
        "milk & !bread",
        "milk | bread",
        "milk:*",
        "milk:A",
        "'milk'",
        "milk' OR '1'='1",
        "milk'; DROP TABLE tasks; --",
        '"milk"',
        "milk <-> bread",
        "milk\\",
        "milk\\'",
        "(milk",
        "milk)",
        "-milk",
        "milk or bread",
        "%milk%",
        "milk_",
        "$1 milk",
        "milk::text",
    ],
)
async def test_query_syntax_in_q_is_plain_text(
    client: httpx.AsyncClient, library: None, q: str
) -> None:
    body = await search(client, q)
    # Never an error, never an operator: whatever words it holds must all match.
    assert body["total"] == len(body["tasks"])
    for task in body["tasks"]:
        assert "milk" in (task["title"] + " " + (task["description"] or "")).lower()
    assert (await search(client, "milk bread"))["tasks"] == []


@pytest.mark.parametrize(
    "q", ["", " ", "!!!", "&", "|", "'", "''", "\\", ":*", "-", "()", "…", "&&&"]
)
async def test_a_q_without_a_word_matches_nothing(
    client: httpx.AsyncClient, library: None, q: str
) -> None:
    body = await search(client, q)
    assert (body["tasks"], body["total"]) == ([], 0)


async def test_words_are_matched_as_postgresql_splits_them(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    # A quote or a backslash inside what the parser keeps as one word must survive quoting.
    await create_task(title=r"path C:\temp\file and /usr/local/bin", description="O'Brien")
    assert (await search(client, "/usr/local/bin"))["total"] == 1
    assert (await search(client, "o'brien"))["total"] == 1
    assert (await search(client, r"C:\temp\file"))["total"] == 1
    assert (await search(client, "obrien"))["total"] == 0


async def test_search_follows_changes_to_title_and_description(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task(title="Buy milk")
    path = f"/api/v1/alice/tasks/{task['id']}"
    await client.patch(
        path, json={"title": "Sell cheese", "description": "at the market"}, headers=auth()
    )
    assert (await search(client, "milk"))["total"] == 0
    assert (await search(client, "cheese market"))["total"] == 1
    await client.put(path, json={"title": "Sell cheese"}, headers=auth())
    assert (await search(client, "market"))["total"] == 0


async def test_search_combines_with_every_filter_and_counts_the_total(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    for n in range(6):
        await insert_task(
            created_at=T0 + timedelta(minutes=n),
            title=f"Buy milk {n}" if n < 4 else f"Sell milk {n}",
            completed=n % 2 == 1,
            priority=n % 4,
            tags=["shop"] if n != 2 else [],
            due_at=T0 + timedelta(days=n),
        )
    body = await search(client, "buy mi", limit=1, sort="due_at")
    assert body["total"] == 4
    assert [task["title"] for task in body["tasks"]] == ["Buy milk 0"]
    body = await search(client, "milk", completed="false", tag="shop")
    assert titles(body) == ["Buy milk 0", "Sell milk 4"]
    body = await search(client, "milk", priority="low,medium", due_after="2026-01-02T00:00:00Z")
    assert titles(body) == ["Buy milk 1", "Buy milk 2", "Sell milk 5"]
    assert body["total"] == 3


async def test_search_never_finds_another_users_task(
    client: httpx.AsyncClient, insert_task: RowInserter
) -> None:
    # bob's tasks hold every word and tag alice looks for; alice has other tasks.
    for n in range(3):
        await insert_task(
            "bob",
            created_at=T0 + timedelta(minutes=n),
            title=f"Secret milk plan {n}",
            description="buy milk secret",
            tags=["secret"],
        )
    await insert_task("alice", created_at=T0, title="Groceries")
    for q in ("secret", "milk", "buy mi", "secret milk plan", "s", "m"):
        body = await search(client, q)
        assert (body["tasks"], body["total"]) == ([], 0), q
        body = await search(client, q, tag="secret")
        assert (body["tasks"], body["total"]) == ([], 0), q
    assert (await search(client, "secret", user="bob"))["total"] == 3


async def test_q_of_200_characters_is_accepted_and_201_is_422(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    await create_task(title="milk " + "x" * 150)
    accepted = await search(client, "milk " + "x" * 195)
    assert accepted["total"] == 0
    accepted = await search(client, "é" * 200)  # characters, not bytes
    assert accepted["total"] == 0
    for q in ("x" * 201, "é" * 201):
        response = await client.get("/api/v1/alice/tasks", params={"q": q}, headers=auth())
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"


async def test_q_with_nul_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/alice/tasks?q=milk%00", headers=auth())
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_tags_with_any_characters_are_matched_exactly(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    odd = ["it's", "a\\b", "x:*", "a & b", "!", "'", "\\", "a b", "ünï"]
    await create_task(title="odd", tags=odd)
    await create_task(title="plain", tags=["a", "x", "b", "it"])
    for tag in odd:
        response = await client.get("/api/v1/alice/tasks", params={"tag": tag}, headers=auth())
        assert response.status_code == 200, response.text
        assert [task["title"] for task in response.json()["tasks"]] == ["odd"], tag
    response = await client.get("/api/v1/alice/tasks", params={"tag": odd}, headers=auth())
    assert response.json()["total"] == 1
    response = await client.get("/api/v1/alice/tasks", params={"tag": "x:"}, headers=auth())
    assert response.json()["total"] == 0  # a tag is never a prefix


@pytest.mark.parametrize(
    ("owner", "neighbour"),
    [
        ("x", "x w milk"),  # one user's id followed by a key's own text
        ("o'brien", "o'brien\\"),
        ("a\\b", "a\\b w"),
        ("1:x", "x"),
    ],
)
async def test_owner_ids_of_any_shape_search_only_their_own_tasks(
    client: httpx.AsyncClient, create_task: TaskMaker, owner: str, neighbour: str
) -> None:
    await create_task(owner=neighbour, title="milk w milk", tags=["milk"])
    await create_task(owner=owner, title="Buy milk", tags=["shop"])
    path = f"/api/v1/{quote(owner, safe='')}/tasks"
    for params in ({"q": "milk"}, {"q": "mi"}, {"q": "buy m"}, {"tag": "shop"}):
        response = await client.get(path, params=params, headers=auth(owner))
        assert response.status_code == 200, response.text
        body = response.json()
        assert [task["title"] for task in body["tasks"]] == ["Buy milk"], params
        assert body["tasks"][0]["owner_id"] == owner
    for params in ({"q": "w"}, {"tag": "milk"}):
        response = await client.get(path, params=params, headers=auth(owner))
        assert response.json()["total"] == 0, params
