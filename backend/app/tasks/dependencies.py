"""Typed dependencies of the task routes: the task in the path, and the conditional headers."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.auth.dependencies import CurrentUserId
from app.core.config import Settings
from app.core.database import DatabaseDep
from app.core.errors import ApiError
from app.core.etags import Condition, MalformedCondition, parse_condition
from app.core.openapi import header_parameter
from app.tasks import service
from app.tasks.etags import if_match_versions as versions_of
from app.tasks.listing import DEFAULT_SORT, ListQuery, Sort
from app.tasks.schemas import (
    PRIORITY_LIST_PATTERN,
    SEARCH_MAX_LENGTH,
    TAGS_MAX_COUNT,
    DueAt,
    SearchText,
    Tag,
)
from app.tasks.service import TaskRow

TaskIdPath = Annotated[uuid.UUID, Path(description="The task's id (a UUID).")]


async def own_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> TaskRow:
    """The caller's task named in the path, or 404."""
    return await service.get_task(db, user_id, task_id)


OwnTask = Annotated[TaskRow, Depends(own_task)]

_DATE_TIME = (
    "An ISO 8601 date-time with an offset (`Z`, or `%2B02:00` in a URL: a bare `+` is a space)."
)


async def list_query(
    *,
    completed: Annotated[
        bool | None, Query(description="Only completed (true) or open (false) tasks.")
    ] = None,
    priority: Annotated[
        str | None,
        Query(
            pattern=PRIORITY_LIST_PATTERN,
            description="Only tasks of this priority, or of any in a comma list "
            "(`none`, `low`, `medium`, `high`).",
            examples=["high", "medium,high"],
        ),
    ] = None,
    tag: Annotated[
        list[Tag],
        Query(
            default_factory=list,
            max_length=TAGS_MAX_COUNT,
            description="Only tasks carrying this tag (case-insensitive); repeat it for tasks "
            f"carrying every one named (at most {TAGS_MAX_COUNT}).",
        ),
    ],
    due_before: Annotated[
        DueAt | None,
        Query(description=f"Only tasks due strictly before this instant. {_DATE_TIME}"),
    ] = None,
    due_after: Annotated[
        DueAt | None,
        Query(description=f"Only tasks due at or after this instant. {_DATE_TIME}"),
    ] = None,
    overdue: Annotated[
        bool | None,
        Query(description="true: only open tasks whose due date has passed; false: every other."),
    ] = None,
    q: Annotated[
        SearchText | None,
        Query(
            max_length=SEARCH_MAX_LENGTH,
            description="Full-text search in title and description: every word must appear "
            "(case-insensitive, whole words; the last also as a prefix). Punctuation is "
            "plain text; a `q` with no word in it matches nothing.",
            examples=["buy mi"],
        ),
    ] = None,
    sort: Annotated[
        Sort,
        Query(
            description="Order: a field, `-` for descending; ties by id in the same direction, "
            "tasks without `due_at` last either way, priority `none` < `low` < `medium` < "
            "`high`, title case-insensitive."
        ),
    ] = DEFAULT_SORT,
) -> ListQuery:
    return ListQuery(
        completed=completed,
        priorities=tuple(priority.split(",")) if priority is not None else (),
        tags=tuple(tag),
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
        search=q,
        sort=sort,
    )


ListQueryParams = Annotated[ListQuery, Depends(list_query)]


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
