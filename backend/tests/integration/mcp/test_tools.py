"""/mcp through the SDK's own client over real HTTP, against a served app and the database:
the tools do what the REST routes do, for the token's user only."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from mcp_types import CallToolResult

from app.mcp.tools import TOOLS
from app.tasks.schemas import ListPage, TaskCompletion, TaskCreate, TaskUpdate
from tests.conftest import auth
from tests.integration.mcp.conftest import session_as
from tests.integration.serve.served_app import ServedApp

pytestmark = pytest.mark.anyio

TOOL_NAMES = {
    "list_tasks",
    "get_task",
    "create_task",
    "update_task",
    "complete_task",
    "delete_task",
    "restore_task",
}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.content
    assert result.content[0].type == "text"
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def tool_error(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error
    assert isinstance(result.structured_content, dict)
    assert set(result.structured_content) == {"code", "detail"}
    text = result.content[0]
    assert text.type == "text"
    assert text.text.startswith(result.structured_content["code"] + ": ")
    return result.structured_content


async def rest_task(app: ServedApp, task_id: str, sub: str = "alice") -> httpx.Response:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as http:
        return await http.get(f"/api/v1/{sub}/tasks/{task_id}", headers=auth(sub))


async def test_initialise_and_list_the_tools_with_the_rest_bodies_schemas(
    served: ServedApp, clean_database: None
) -> None:
    async with session_as(served, "alice") as session:
        listed = await session.list_tools()

    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == TOOL_NAMES
    # create_task takes exactly the REST body; the others are that body's fields plus the id.
    assert tools["create_task"].input_schema == TaskCreate.model_json_schema()
    properties = {name: set(tool.input_schema["properties"]) for name, tool in tools.items()}
    assert properties["update_task"] == {*TaskUpdate.model_fields, "id", "if_version"}
    assert properties["complete_task"] == {*TaskCompletion.model_fields, "id", "if_version"}
    assert properties["list_tasks"] == set(ListPage.model_fields)
    assert properties["get_task"] == properties["restore_task"] == {"id"}
    assert properties["delete_task"] == {"id", "if_version"}
    for name, tool in tools.items():
        # No tool can be told whose tasks to touch: the token says.
        assert not {"user_id", "owner_id"} & properties[name]
        assert tool.input_schema["additionalProperties"] is False
        required = {"create_task": ["title"], "list_tasks": []}.get(name, ["id"])
        assert tool.input_schema.get("required", []) == required
        assert tool.output_schema is not None
        assert tool.description
        assert tool.input_schema == TOOLS[name].arguments.model_json_schema()
    hints = {
        name: (
            tool.annotations.read_only_hint,
            tool.annotations.destructive_hint,
            tool.annotations.idempotent_hint,
        )
        for name, tool in tools.items()
        if tool.annotations is not None
    }
    assert hints == {
        "list_tasks": (True, False, True),
        "get_task": (True, False, True),
        "create_task": (False, False, False),
        "update_task": (False, True, False),
        "complete_task": (False, False, False),
        "delete_task": (False, True, True),
        "restore_task": (False, False, True),
    }


async def test_each_tool_does_what_its_route_does(
    served: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with session_as(served, "alice") as session:
        created = ok(
            await session.call_tool(
                "create_task",
                {
                    "title": "  Buy milk ",
                    "priority": "high",
                    "due_at": "2026-12-01T18:00:00+01:00",
                    "tags": ["Home", "home", "errands"],
                },
            )
        )
        task_id = created["id"]
        row = await db.fetchrow("SELECT * FROM tasks WHERE id = $1", uuid.UUID(task_id))
        assert row is not None
        assert row["owner_id"] == "alice"
        assert (row["title"], row["tags"]) == ("Buy milk", ["home", "errands"])
        # The same JSON the REST API answers with.
        assert created == (await rest_task(served, task_id)).json()
        assert created["due_at"] == "2026-12-01T17:00:00Z"

        assert ok(await session.call_tool("get_task", {"id": task_id})) == created

        other = ok(await session.call_tool("create_task", {"title": "Call mum"}))
        listed = ok(await session.call_tool("list_tasks", {"priority": "high", "tag": ["errands"]}))
        assert listed == {"tasks": [created], "total": 1, "limit": 50, "offset": 0}
        page = ok(await session.call_tool("list_tasks", {"sort": "title", "limit": 1}))
        assert [task["id"] for task in page["tasks"]] == [task_id]
        assert page["total"] == 2

        updated = ok(
            await session.call_tool(
                "update_task",
                {"id": task_id, "title": "Buy oat milk", "description": "2 l", "if_version": 1},
            )
        )
        assert (updated["title"], updated["description"], updated["version"]) == (
            "Buy oat milk",
            "2 l",
            2,
        )
        stale = tool_error(
            await session.call_tool("update_task", {"id": task_id, "title": "x", "if_version": 1})
        )
        assert stale["code"] == "precondition_failed"
        row = await db.fetchrow(
            "SELECT title, version FROM tasks WHERE id = $1", uuid.UUID(task_id)
        )
        assert row is not None
        assert (row["title"], row["version"]) == ("Buy oat milk", 2)

        done = ok(await session.call_tool("complete_task", {"id": task_id}))
        assert done["completed"]
        assert done["completed_at"] is not None
        reopened = ok(await session.call_tool("complete_task", {"id": task_id}))
        assert not reopened["completed"]
        kept = ok(await session.call_tool("complete_task", {"id": task_id, "completed": False}))
        assert not kept["completed"]
        assert (
            await db.fetchval("SELECT completed FROM tasks WHERE id = $1", uuid.UUID(task_id))
            is False
        )

        deleted = ok(await session.call_tool("delete_task", {"id": task_id}))
        assert deleted == {"id": task_id, "in_trash": True}
        assert await db.fetchval(
            "SELECT deleted_at IS NOT NULL FROM tasks WHERE id = $1", uuid.UUID(task_id)
        )
        assert (await rest_task(served, task_id)).status_code == 404
        gone = tool_error(await session.call_tool("get_task", {"id": task_id}))
        assert gone["code"] == "task_not_found"
        again = tool_error(await session.call_tool("delete_task", {"id": task_id}))
        assert again["code"] == "task_not_found"

        restored = ok(await session.call_tool("restore_task", {"id": task_id}))
        assert restored["title"] == "Buy oat milk"
        assert (await rest_task(served, task_id)).json() == restored
        listed = ok(await session.call_tool("list_tasks", {}))
        assert {task["id"] for task in listed["tasks"]} == {task_id, other["id"]}


async def test_invalid_input_is_a_tool_error_with_the_rest_code_and_changes_nothing(
    served: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with session_as(served, "alice") as session:
        blank = tool_error(await session.call_tool("create_task", {"title": "   "}))
        assert blank["code"] == "validation_error"
        assert [problem["loc"] for problem in blank["detail"]] == [["title"]]

        owner = tool_error(
            await session.call_tool("create_task", {"title": "mine", "owner_id": "bob"})
        )
        assert owner["code"] == "validation_error"
        assert owner["detail"][0]["type"] == "extra_forbidden"

        for arguments in ({"id": "not-a-uuid"}, {}):
            bad_id = tool_error(await session.call_tool("get_task", arguments))
            assert bad_id["code"] == "validation_error"
            assert bad_id["detail"][0]["loc"] == ["id"]

        too_many = tool_error(await session.call_tool("list_tasks", {"limit": 101}))
        assert too_many["code"] == "validation_error"

        unknown = tool_error(await session.call_tool("drop_all_tasks", {}))
        assert unknown["code"] == "unknown_tool"
    assert await db.fetchval("SELECT count(*) FROM tasks") == 0


async def test_another_users_task_is_not_found_and_not_touched(
    served: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        created = await http.post(
            "/api/v1/bob/tasks", json={"title": "Bob's secret plan"}, headers=auth("bob")
        )
    assert created.status_code == 201, created.text
    bobs = created.json()["id"]
    # The trash is no way in either.
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        trashed = await http.post(
            "/api/v1/bob/tasks", json={"title": "Bob's old plan"}, headers=auth("bob")
        )
        bobs_trashed = trashed.json()["id"]
        assert (
            await http.delete(f"/api/v1/bob/tasks/{bobs_trashed}", headers=auth("bob"))
        ).status_code == 204
    missing = str(uuid.uuid4())

    async with session_as(served, "alice") as session:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("get_task", {"id": bobs}),
            ("update_task", {"id": bobs, "title": "mine now"}),
            ("update_task", {"id": bobs, "title": "mine now", "if_version": 1}),
            ("complete_task", {"id": bobs}),
            ("delete_task", {"id": bobs}),
            ("restore_task", {"id": bobs}),
            ("restore_task", {"id": bobs_trashed}),
        ]
        for name, arguments in calls:
            result = await session.call_tool(name, arguments)
            error = tool_error(result)
            assert error == {"code": "task_not_found", "detail": "Task not found."}, name
            # Exactly what a task that does not exist gets.
            nowhere = await session.call_tool(name, {**arguments, "id": missing})
            assert nowhere.structured_content == error
            assert nowhere.content == result.content
            assert "plan" not in str(result.model_dump())

    row = await db.fetchrow(
        "SELECT title, version, completed, deleted_at FROM tasks WHERE id = $1", uuid.UUID(bobs)
    )
    assert row is not None
    assert dict(row) == {
        "title": "Bob's secret plan",
        "version": 1,
        "completed": False,
        "deleted_at": None,
    }
    assert await db.fetchval(
        "SELECT deleted_at IS NOT NULL FROM tasks WHERE id = $1", uuid.UUID(bobs_trashed)
    )


async def test_a_users_tool_calls_never_see_another_users_tasks(
    served: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with session_as(served, "bob") as bob:
        for title in ("Bob 1", "Bob 2 overdue"):
            task = {"title": title, "due_at": "2020-01-01T00:00:00Z"}
            ok(await bob.call_tool("create_task", task))
    async with session_as(served, "alice") as alice:
        mine = ok(
            await alice.call_tool(
                "create_task", {"title": "Alice overdue", "due_at": "2020-01-01T00:00:00Z"}
            )
        )
        for arguments in ({}, {"q": "Bob"}, {"overdue": True}, {"completed": False, "limit": 100}):
            listed = ok(await alice.call_tool("list_tasks", arguments))
            assert {task["owner_id"] for task in listed["tasks"]} <= {"alice"}
            assert listed["total"] == len(listed["tasks"])
        everything = ok(await alice.call_tool("list_tasks", {}))
        assert everything["tasks"] == [mine]
        overdue = await alice.read_resource("tasks://overdue")
        text = overdue.contents[0]
        assert text.mime_type == "application/json"
        assert "Bob" not in getattr(text, "text", "")
        assert mine["id"] in getattr(text, "text", "")
    owners = await db.fetch("SELECT owner_id, count(*) FROM tasks GROUP BY owner_id ORDER BY 1")
    assert [tuple(row) for row in owners] == [("alice", 1), ("bob", 2)]


async def test_the_first_valid_token_provisions_the_user(
    served: ServedApp, db: asyncpg.Connection, clean_database: None
) -> None:
    async with session_as(served, "newcomer"):
        pass
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = 'newcomer'") == 1


async def test_tool_calls_are_counted_by_name_and_outcome_and_logged_by_name(
    served: ServedApp, clean_database: None
) -> None:
    def counted(metrics: str, tool: str, outcome: str) -> float:
        prefix = f'mcp_tool_calls_total{{outcome="{outcome}",tool="{tool}"}} '
        for line in metrics.splitlines():
            if line.startswith(prefix):
                return float(line.removeprefix(prefix))
        return 0.0

    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        before = (await http.get("/metrics")).text
        async with session_as(served, "alice") as session:
            ok(await session.call_tool("create_task", {"title": "counted"}))
            tool_error(await session.call_tool("get_task", {"id": str(uuid.uuid4())}))
        after = (await http.get("/metrics")).text

    assert counted(after, "create_task", "ok") == counted(before, "create_task", "ok") + 1
    assert counted(after, "get_task", "task_not_found") == (
        counted(before, "get_task", "task_not_found") + 1
    )
    assert 'route="/mcp"' in after
    log = served.output()
    assert '"tool":"create_task","outcome":"ok"' in log
    assert '"route":"/mcp"' in log
