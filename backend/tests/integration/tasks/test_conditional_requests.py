"""ETags and conditional requests (RFC 9110): every answer with one task carries its ETag;
If-Match guards the writes (412, nothing changes), If-None-Match saves a GET (304)."""

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ClientFactory, auth
from tests.integration.tasks.conftest import Json, RowReader, TaskMaker

pytestmark = pytest.mark.anyio

API = "/api/v1/alice/tasks"


def url(task: Json, suffix: str = "") -> str:
    return f"{API}/{task['id']}{suffix}"


def headers(**extra: str) -> dict[str, str]:
    return {**auth(), **{name.replace("_", "-"): value for name, value in extra.items()}}


# (method, suffix, body) of every write to an existing task.
WRITES: list[tuple[str, str, Any]] = [
    ("PUT", "", {"title": "replaced"}),
    ("PATCH", "", {"title": "changed"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]
WRITE_IDS = ["put", "patch", "complete", "delete"]


async def write(
    client: httpx.AsyncClient, method: str, target: str, body: Any, **extra: str
) -> httpx.Response:
    return await client.request(method, target, json=body, headers=headers(**extra))


# ETag on every answer that carries one task.


async def test_every_answer_with_one_task_carries_its_version_as_etag(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(API, json={"title": "t"}, headers=auth())
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    assert created.json()["version"] == 1
    task = created.json()
    fetched = await client.get(url(task), headers=auth())
    assert fetched.headers["ETag"] == '"1"'
    answers = [
        await client.put(url(task), json={"title": "u"}, headers=auth()),
        await client.patch(url(task), json={"description": "d"}, headers=auth()),
        await client.patch(url(task, "/complete"), headers=auth()),
    ]
    for version, answer in enumerate(answers, start=2):
        assert answer.status_code == 200
        assert answer.json()["version"] == version
        assert answer.headers["ETag"] == f'"{version}"'


async def test_a_restored_task_carries_its_etag(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    assert (await client.delete(url(task), headers=headers(If_Match='"1"'))).status_code == 204
    restored = await client.post(url(task, "/restore"), headers=auth())
    assert restored.status_code == 200
    assert restored.headers["ETag"] == '"3"'
    assert restored.json()["version"] == 3


async def test_a_change_that_changes_nothing_keeps_the_etag(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    answer = await client.patch(url(task), json={}, headers=auth())
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"1"'


# If-Match


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
async def test_a_matching_if_match_writes(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    task = await create_task()
    answer = await write(client, method, url(task, suffix), body, If_Match='"1"')
    assert answer.status_code in (200, 204), answer.text
    row = await task_row(task["id"])
    assert row is not None
    assert row["version"] == 2
    assert (row["deleted_at"] is not None) is (method == "DELETE")  # DELETE: to the trash


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize(
    "if_match",
    ['"2"', 'W/"1"', '"x"', '"01"', '"2", "3"'],
    ids=["stale", "weak", "foreign", "zero-padded", "list"],
)
async def test_a_mismatching_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: Any,
    if_match: str,
) -> None:
    task = await create_task(title="original")
    before = await task_row(task["id"])
    answer = await write(client, method, url(task, suffix), body, If_Match=if_match)
    assert answer.status_code == 412, answer.text
    assert answer.json()["code"] == "precondition_failed"
    assert await task_row(task["id"]) == before


async def test_any_of_several_etags_may_match(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    answer = await write(client, "PATCH", url(task), {"title": "n"}, If_Match='"7", W/"2", "1"')
    assert answer.status_code == 200


async def test_several_if_match_lines_are_one_list(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    lines = [*auth().items(), ("If-Match", '"5"'), ("If-Match", '"1"')]
    answer = await client.patch(url(task), json={"title": "n"}, headers=lines)
    assert answer.status_code == 200


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
async def test_if_match_star_matches_any_existing_task(
    client: httpx.AsyncClient, create_task: TaskMaker, method: str, suffix: str, body: Any
) -> None:
    task = await create_task()
    await client.patch(url(task), json={"title": "v2"}, headers=auth())
    answer = await write(client, method, url(task, suffix), body, If_Match="*")
    assert answer.status_code in (200, 204)


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("if_match", ["*", '"1"', '"9"'])
async def test_a_missing_or_foreign_task_stays_404_whatever_the_precondition(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: Any,
    if_match: str,
) -> None:
    bobs = await create_task("bob")
    for target in (url(bobs, suffix), f"{API}/{uuid.uuid4()}{suffix}"):
        answer = await write(client, method, target, body, If_Match=if_match)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "task_not_found"
    row = await task_row(bobs["id"])
    assert row is not None
    assert row["version"] == 1


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("if_match", ["1", '"1', "W/1", '*, "1"', ",", "null"])
async def test_a_malformed_if_match_matches_nothing(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: Any,
    if_match: str,
) -> None:
    task = await create_task()
    answer = await write(client, method, url(task, suffix), body, If_Match=if_match)
    assert answer.status_code == 412, answer.text
    assert answer.json()["code"] == "precondition_failed"
    row = await task_row(task["id"])
    assert row is not None
    assert row["version"] == 1
    missing = await write(client, method, f"{API}/{uuid.uuid4()}{suffix}", body, If_Match=if_match)
    assert missing.status_code == 404


# REQUIRE_IF_MATCH


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
async def test_require_if_match_answers_428_without_it(
    client_with: ClientFactory,
    create_task: TaskMaker,
    task_row: RowReader,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    task = await create_task()
    async with client_with(require_if_match=True) as strict:
        refused = await write(strict, method, url(task, suffix), body)
        assert refused.status_code == 428, refused.text
        assert refused.json()["code"] == "precondition_required"
        row = await task_row(task["id"])
        assert row is not None
        assert row["version"] == 1
        accepted = await write(strict, method, url(task, suffix), body, If_Match='"1"')
        assert accepted.status_code in (200, 204)
        # Creating and reading need no precondition.
        assert (await strict.post(API, json={"title": "t"}, headers=auth())).status_code == 201
        assert (await strict.get(API, headers=auth())).status_code == 200


async def test_without_require_if_match_the_last_write_wins(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    for title in ("one", "two"):
        answer = await client.patch(url(task), json={"title": title}, headers=auth())
        assert answer.status_code == 200
    assert answer.json()["title"] == "two"
    assert answer.json()["version"] == 3


# If-None-Match


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', "*", '"5", "1"'])
async def test_if_none_match_that_matches_is_304_without_a_body(
    client: httpx.AsyncClient, create_task: TaskMaker, if_none_match: str
) -> None:
    task = await create_task()
    answer = await client.get(url(task), headers=headers(If_None_Match=if_none_match))
    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers["ETag"] == '"1"'


@pytest.mark.parametrize("if_none_match", ['"2"', '"x"', "not-a-tag"])
async def test_if_none_match_that_does_not_match_sends_the_task(
    client: httpx.AsyncClient, create_task: TaskMaker, if_none_match: str
) -> None:
    task = await create_task()
    answer = await client.get(url(task), headers=headers(If_None_Match=if_none_match))
    assert answer.status_code == 200
    assert answer.json()["id"] == task["id"]


async def test_a_changed_task_no_longer_matches_its_old_etag(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    task = await create_task()
    await client.patch(url(task, "/complete"), headers=auth())
    answer = await client.get(url(task), headers=headers(If_None_Match='"1"'))
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"2"'


async def test_if_none_match_star_on_a_missing_or_foreign_task_is_404(
    client: httpx.AsyncClient, create_task: TaskMaker
) -> None:
    bobs = await create_task("bob")
    for target in (url(bobs), f"{API}/{uuid.uuid4()}"):
        answer = await client.get(target, headers=headers(If_None_Match="*"))
        assert answer.status_code == 404


# The check and the write are one step.


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES, ids=WRITE_IDS)
async def test_concurrent_writes_with_one_etag_give_one_success(
    client: httpx.AsyncClient,
    create_task: TaskMaker,
    db: asyncpg.Connection,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    task = await create_task()
    answers = await asyncio.gather(
        *(write(client, method, url(task, suffix), body, If_Match='"1"') for _ in range(8))
    )
    statuses = sorted(answer.status_code for answer in answers)
    success = 204 if method == "DELETE" else 200
    # A delete that lost the race finds no task at all: 404, never a second success.
    lost = {404} if method == "DELETE" else {412}
    assert statuses.count(success) == 1, statuses
    assert set(statuses) - {success} <= lost, statuses
    version = await db.fetchval("SELECT version FROM tasks WHERE id = $1", uuid.UUID(task["id"]))
    assert version == 2
