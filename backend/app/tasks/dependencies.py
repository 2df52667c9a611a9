"""Typed dependencies of the task routes."""

import uuid
from typing import Annotated

from fastapi import Depends, Path, Query

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.tasks import service
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
