from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response, status

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.errors import ErrorBody
from app.core.json_response import JSONBytesResponse
from app.tasks import service
from app.tasks.dependencies import ListQueryParams, OwnTask, TaskIdPath
from app.tasks.schemas import (
    TaskCompletion,
    TaskCreate,
    TaskList,
    TaskPublic,
    TaskReplace,
    TaskUpdate,
)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Missing, malformed, expired or untrusted token.",
        403: "The path's user id is not the token's subject.",
        404: "No such task for this user.",
        413: "Request body over 1 MiB.",
        422: "Invalid input; nothing was changed.",
        503: "The database is unavailable; retry after `Retry-After` seconds.",
    }
    headers = {
        401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
        503: {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    }
    return {
        code: {"model": ErrorBody, "description": descriptions[code]}
        | ({"headers": headers[code]} if code in headers else {})
        for code in codes
    }


COMMON_ERRORS = _errors(401, 403, 422, 503)
TASK_ERRORS = {**COMMON_ERRORS, **_errors(404)}
BODY_ERRORS = _errors(413)

# PostgreSQL's OFFSET is a bigint: a larger value would fail in the driver, not here.
MAX_OFFSET = 2**63 - 1

router = APIRouter(prefix="/api/v1/{user_id}/tasks", tags=["tasks"], responses=COMMON_ERRORS)


@router.get(
    "",
    response_model=TaskList,
    summary="List, filter, search and sort the caller's tasks (newest first by default)",
    description="Every filter given must hold, and `total` counts every task that matches.",
)
async def list_tasks(
    user_id: CurrentUserId,
    db: DatabaseDep,
    query: ListQueryParams,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    page = await service.list_tasks(db, user_id, query, limit=limit, offset=offset)
    return JSONBytesResponse(
        {"tasks": page.tasks, "total": page.total, "limit": limit, "offset": offset}
    )


@router.post(
    "",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    responses={
        status.HTTP_201_CREATED: {
            "description": "Created.",
            "headers": {
                "Location": {
                    "description": "The new task's URL: `/api/v1/{user_id}/tasks/{id}`.",
                    "schema": {"type": "string"},
                }
            },
        },
        **BODY_ERRORS,
    },
)
async def create_task(body: TaskCreate, user_id: CurrentUserId, db: DatabaseDep) -> Response:
    task = await service.create_task(db, user_id, body.model_dump())
    location = f"/api/v1/{quote(user_id, safe='')}/tasks/{task['id']}"
    return JSONBytesResponse(task, status.HTTP_201_CREATED, headers={"Location": location})


@router.get("/{task_id}", response_model=TaskPublic, responses=TASK_ERRORS, summary="Get one task")
async def get_task(task: OwnTask) -> Response:
    return JSONBytesResponse(task)


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    responses={**TASK_ERRORS, **BODY_ERRORS},
    summary="Replace a task",
)
async def replace_task(
    task_id: TaskIdPath, body: TaskReplace, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    return JSONBytesResponse(await service.update_task(db, user_id, task_id, body.model_dump()))


@router.patch(
    "/{task_id}",
    response_model=TaskPublic,
    responses={**TASK_ERRORS, **BODY_ERRORS},
    summary="Change some fields of a task",
)
async def update_task(
    task_id: TaskIdPath, body: TaskUpdate, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    return JSONBytesResponse(await service.update_task(db, user_id, task_id, body.changes()))


@router.patch(
    "/{task_id}/complete",
    response_model=TaskPublic,
    responses={**TASK_ERRORS, **BODY_ERRORS},
    summary="Set or toggle completion",
)
async def complete_task(
    task_id: TaskIdPath,
    user_id: CurrentUserId,
    db: DatabaseDep,
    body: Annotated[TaskCompletion | None, Body()] = None,
) -> Response:
    completed = body.completed if body is not None else None
    return JSONBytesResponse(await service.set_completed(db, user_id, task_id, completed))


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=TASK_ERRORS,
    summary="Move a task to the trash",
    description="It can be restored from the trash until the trash empties itself.",
)
async def delete_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> Response:
    await service.delete_task(db, user_id, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
