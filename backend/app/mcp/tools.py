"""The MCP tools: the task operations of the REST API, for a model to call.

Each tool's input schema is the JSON Schema of a pydantic model derived from the REST body (or
query) it stands for, and its arguments are validated by that model, so a tool accepts exactly
what the route accepts and refuses the rest with the route's `validation_error`. Every tool
calls the same service functions as its route, with the caller's id from the verified token:
no argument can name a user.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import mcp_types as types
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.database import DatabaseUnavailable
from app.core.errors import ApiError, validation_detail
from app.core.json_response import dumps
from app.mcp.caller import Caller
from app.tasks import service as tasks_service
from app.tasks.dependencies import PreconditionRequired
from app.tasks.listing import ListQuery
from app.tasks.schemas import (
    ListPage,
    TaskCompletion,
    TaskCreate,
    TaskList,
    TaskPublic,
    TaskUpdate,
)
from app.tasks.service import WRITABLE, TaskRow
from app.trash import service as trash_service

logger = logging.getLogger("app.mcp")

# The largest value of the `version` column (an integer): a larger one could never match, and
# would fail in the driver rather than here.
MAX_VERSION = 2**31 - 1
# What a resource (tasks://today, tasks://overdue) lists at most.
RESOURCE_PAGE_SIZE = 100

TaskId = Annotated[
    uuid.UUID,
    Field(description="The task's id (a UUID), as returned by list_tasks or create_task."),
]
IfVersion = Annotated[
    Annotated[int, Field(ge=1, le=MAX_VERSION)] | None,
    Field(
        description="Only change the task if it is still at this `version` (as last read); "
        "otherwise nothing changes and the error is `precondition_failed`: read the task "
        "again before deciding. Leave it out to change whatever is there.",
    ),
]


class ListTasksArguments(ListPage):
    """The REST list's query (filters and paging); unknown names are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class TaskIdArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: TaskId


class UpdateTaskArguments(TaskUpdate):
    id: TaskId
    if_version: IfVersion = None


class CompleteTaskArguments(TaskCompletion):
    id: TaskId
    if_version: IfVersion = None


class DeleteTaskArguments(TaskIdArguments):
    if_version: IfVersion = None


class DeletedTask(BaseModel):
    id: uuid.UUID
    in_trash: bool = Field(description="Always true: restore_task brings the task back.")


@dataclass(frozen=True, slots=True)
class Outcome:
    structured: dict[str, Any]
    summary: str


ToolFunction = Callable[[Caller, Any], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    output: type[BaseModel]
    annotations: types.ToolAnnotations
    run: ToolFunction

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.arguments.model_json_schema(),
            output_schema=self.output.model_json_schema(mode="serialization"),
            annotations=self.annotations,
        )


class ToolError(Exception):
    """A failure to report to the model as a tool error, with the REST error's code."""

    def __init__(self, code: str, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _json(value: Any) -> Any:
    """The value as the REST API writes it (same encoder: UUIDs as text, times in UTC `Z`)."""
    return orjson.loads(dumps(value))


def _describe(task: dict[str, Any]) -> str:
    state = "done" if task["completed"] else "open"
    parts = [f'"{task["title"]}" ({state}', f"priority {task['priority']}"]
    if task["due_at"]:
        parts.append(f"due {task['due_at']}")
    if task["tags"]:
        parts.append("tags " + ", ".join(task["tags"]))
    return ", ".join(parts) + f"; id {task['id']}, version {task['version']})"


def _task_outcome(verb: str, row: TaskRow) -> Outcome:
    task = _json(row)
    return Outcome(task, f"{verb} task {_describe(task)}.")


def _if_versions(caller: Caller, if_version: int | None) -> list[int] | None:
    """The service's guard from `if_version`, under the server's REQUIRE_IF_MATCH rule."""
    if if_version is None:
        if caller.settings.require_if_match:
            raise PreconditionRequired()
        return None
    return [if_version]


async def list_tasks(caller: Caller, arguments: ListTasksArguments) -> Outcome:
    page = await tasks_service.list_tasks(
        caller.database,
        caller.user_id,
        arguments.to_query(),
        limit=arguments.limit,
        offset=arguments.offset,
    )
    listing = {
        "tasks": page.tasks,
        "total": page.total,
        "limit": arguments.limit,
        "offset": arguments.offset,
    }
    return Outcome(_json(listing), _list_summary(_json(page.tasks), page.total, arguments.offset))


def _list_summary(tasks: list[dict[str, Any]], total: int, offset: int) -> str:
    if not tasks:
        return f"No tasks on this page ({total} match in all)."
    heading = f"{total} task(s) match; these are {offset + 1} to {offset + len(tasks)}:"
    return "\n".join([heading, *(f"- {_describe(task)}" for task in tasks)])


async def get_task(caller: Caller, arguments: TaskIdArguments) -> Outcome:
    row = await tasks_service.get_task(caller.database, caller.user_id, arguments.id)
    return _task_outcome("The", row)


async def create_task(caller: Caller, arguments: TaskCreate) -> Outcome:
    row = await tasks_service.create_task(caller.database, caller.user_id, arguments.model_dump())
    return _task_outcome("Created", row)


async def update_task(caller: Caller, arguments: UpdateTaskArguments) -> Outcome:
    changes = {name: value for name, value in arguments.changes().items() if name in WRITABLE}
    row = await tasks_service.update_task(
        caller.database,
        caller.user_id,
        arguments.id,
        changes,
        if_versions=_if_versions(caller, arguments.if_version),
    )
    return _task_outcome("Updated", row)


async def complete_task(caller: Caller, arguments: CompleteTaskArguments) -> Outcome:
    row = await tasks_service.set_completed(
        caller.database,
        caller.user_id,
        arguments.id,
        arguments.completed,
        if_versions=_if_versions(caller, arguments.if_version),
    )
    return _task_outcome("Completed" if row["completed"] else "Reopened", row)


async def delete_task(caller: Caller, arguments: DeleteTaskArguments) -> Outcome:
    await tasks_service.delete_task(
        caller.database,
        caller.user_id,
        arguments.id,
        if_versions=_if_versions(caller, arguments.if_version),
    )
    return Outcome(
        {"id": str(arguments.id), "in_trash": True},
        f"Moved task {arguments.id} to the trash; restore_task brings it back.",
    )


async def restore_task(caller: Caller, arguments: TaskIdArguments) -> Outcome:
    row = await trash_service.restore_task(caller.database, caller.user_id, arguments.id)
    return _task_outcome("Restored", row)


_READ_ONLY = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            name="list_tasks",
            title="List tasks",
            description=(
                "List the user's tasks, newest first unless `sort` says otherwise. Every filter "
                "given must hold: `completed`, `priority` (one, or a comma list such as "
                "`medium,high`), `tag` (every tag named), `due_before`/`due_after` (ISO 8601 "
                "with an offset), `overdue`, and `q` (words in title or description). Returns "
                "one page (`limit` up to 100, `offset`) and `total`, the number of matches."
            ),
            arguments=ListTasksArguments,
            output=TaskList,
            annotations=_READ_ONLY,
            run=list_tasks,
        ),
        ToolSpec(
            name="get_task",
            title="Get a task",
            description="Get one of the user's tasks by its id.",
            arguments=TaskIdArguments,
            output=TaskPublic,
            annotations=_READ_ONLY,
            run=get_task,
        ),
        ToolSpec(
            name="create_task",
            title="Create a task",
            description=(
                "Create a task for the user. Only `title` is required; `priority` is none, "
                "low, medium or high; `due_at` is an ISO 8601 date-time with an offset "
                "(e.g. 2026-12-01T17:00:00Z); `tags` are short labels. Returns the new task, "
                "with the `id` the other tools take. Calling it twice creates two tasks."
            ),
            arguments=TaskCreate,
            output=TaskPublic,
            annotations=types.ToolAnnotations(
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=False,
            ),
            run=create_task,
        ),
        ToolSpec(
            name="update_task",
            title="Change a task",
            description=(
                "Change some fields of one of the user's tasks: only the fields given change "
                "(`description` and `due_at` may be null to clear them). Give `if_version` to "
                "change it only if nobody changed it since you read it. Returns the task."
            ),
            arguments=UpdateTaskArguments,
            output=TaskPublic,
            # It overwrites what was there; every call also advances `version`.
            annotations=types.ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=False,
                open_world_hint=False,
            ),
            run=update_task,
        ),
        ToolSpec(
            name="complete_task",
            title="Complete or reopen a task",
            description=(
                "Mark one of the user's tasks done (`completed`: true) or open again "
                "(`completed`: false); without `completed` it toggles. Returns the task."
            ),
            arguments=CompleteTaskArguments,
            output=TaskPublic,
            annotations=types.ToolAnnotations(
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=False,
            ),
            run=complete_task,
        ),
        ToolSpec(
            name="delete_task",
            title="Delete a task",
            description=(
                "Move one of the user's tasks to the trash. It disappears from the other tools "
                "and can be brought back with restore_task until the trash empties itself "
                "(after some days)."
            ),
            arguments=DeleteTaskArguments,
            output=DeletedTask,
            # A second call finds nothing to delete and changes nothing.
            annotations=types.ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
            run=delete_task,
        ),
        ToolSpec(
            name="restore_task",
            title="Restore a deleted task",
            description=(
                "Bring a task the user deleted back from the trash, unchanged. Returns the task."
            ),
            arguments=TaskIdArguments,
            output=TaskPublic,
            annotations=types.ToolAnnotations(
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=False,
            ),
            run=restore_task,
        ),
    )
}


async def call(spec: ToolSpec, caller: Caller, arguments: dict[str, Any] | None) -> Outcome:
    """Validate the arguments with the tool's model and run it; failures as ToolError."""
    try:
        parsed = spec.arguments.model_validate(arguments or {})
    except ValidationError as exc:
        raise ToolError("validation_error", validation_detail(exc.errors())) from exc
    try:
        return await spec.run(caller, parsed)
    except ApiError as exc:
        raise ToolError(exc.code, exc.detail) from exc
    except DatabaseUnavailable as exc:
        logger.warning("database unavailable: %s", exc)
        raise ToolError(
            "database_unavailable", "The database is unavailable; retry shortly."
        ) from exc
    except Exception as exc:  # a bug: logged whole, reported as the REST API reports a 500
        logger.exception("tool %s failed", spec.name)
        raise ToolError("internal_error", "Internal server error.") from exc


def error_summary(error: ToolError) -> str:
    """One line a model can act on: the code, and what was wrong."""
    if isinstance(error.detail, str):
        return f"{error.code}: {error.detail}"
    problems = []
    for problem in error.detail:
        where = ".".join(str(part) for part in problem.get("loc", ())) or "arguments"
        problems.append(f"{where}: {problem.get('msg', 'invalid')}")
    return f"{error.code}: " + "; ".join(problems)


# Resources: read-only views a client can attach to a conversation.
RESOURCES = {
    "tasks://today": (
        "Due today",
        "The user's open tasks due today (UTC), soonest first.",
    ),
    "tasks://overdue": (
        "Overdue",
        "The user's open tasks whose due date has passed, most overdue first.",
    ),
}


def resource_query(uri: str, now: datetime) -> ListQuery | None:
    if uri == "tasks://today":
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return ListQuery(
            completed=False, due_after=start, due_before=start + timedelta(days=1), sort="due_at"
        )
    if uri == "tasks://overdue":
        return ListQuery(overdue=True, sort="due_at")
    return None


async def read_resource(caller: Caller, query: ListQuery) -> str:
    page = await tasks_service.list_tasks(
        caller.database, caller.user_id, query, limit=RESOURCE_PAGE_SIZE, offset=0
    )
    return dumps({"tasks": page.tasks, "total": page.total}).decode()
