"""Typed dependencies of the task routes: the task in the path, and the conditional headers."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from app.auth.dependencies import CurrentUserId
from app.core.config import Settings
from app.core.database import DatabaseDep
from app.core.errors import ApiError
from app.core.etags import Condition, MalformedCondition, parse_condition
from app.core.openapi import header_parameter
from app.tasks import service
from app.tasks.etags import if_match_versions as versions_of
from app.tasks.service import TaskRow

TaskIdPath = Annotated[uuid.UUID, Path(description="The task's id (a UUID).")]


async def own_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> TaskRow:
    """The caller's task named in the path, or 404."""
    return await service.get_task(db, user_id, task_id)


OwnTask = Annotated[TaskRow, Depends(own_task)]


class PreconditionRequired(ApiError):
    def __init__(self) -> None:
        super().__init__(
            428,
            "precondition_required",
            "This server requires If-Match on writes to a task: send the ETag you last saw "
            "(or * to overwrite whatever is there).",
        )


def _header_value(request: Request, name: str) -> str | None:
    # Several field lines of a list header are one list, joined by commas (RFC 9110 §5.3).
    lines = request.headers.getlist(name)
    return ", ".join(lines) if lines else None


# The conditional headers are read from the request itself and published by the routes with
# these parameters (see app.core.openapi).
IF_MATCH_DESCRIPTION = (
    'Write only if the task is still at this version: its ETag (e.g. `"3"`), several '
    "separated by commas, or `*` for any existing task. Otherwise 412 and nothing changes. "
    "Weak tags (`W/...`) never match, nor does a value that is not `*` or a list of quoted "
    "tags. Required (else 428) when the server runs with REQUIRE_IF_MATCH=true."
)


async def if_match_versions(request: Request) -> list[int] | None:
    """The versions If-Match accepts (None: any existing task), for the service's guard."""
    value = _header_value(request, "if-match")
    # Read here rather than through a sub-dependency: each one costs CPU on every request.
    settings: Settings = request.app.state.settings
    if value is None and settings.require_if_match:
        raise PreconditionRequired()
    return versions_of(value)


IfMatchVersions = Annotated[list[int] | None, Depends(if_match_versions)]
IF_MATCH_PARAMETER = header_parameter("If-Match", IF_MATCH_DESCRIPTION)


async def if_none_match(request: Request) -> Condition | None:
    """The If-None-Match condition, or None. A malformed one is ignored rather than refused:
    the worst it can cause is a full answer, which is what a GET without it gets."""
    value = _header_value(request, "if-none-match")
    if value is None:
        return None
    try:
        return parse_condition(value)
    except MalformedCondition:
        return None


IfNoneMatch = Annotated[Condition | None, Depends(if_none_match)]
IF_NONE_MATCH_PARAMETER = header_parameter(
    "If-None-Match",
    "The ETag(s) of the copy you hold, or `*`: when one matches the task's current ETag (weak "
    "comparison), the answer is 304 with no body. A malformed value is ignored (the task is "
    "sent).",
)
