from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Response, status

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.direct_routes import resolved_directly
from app.core.errors import ErrorBody
from app.core.json_response import JSONBytesResponse
from app.idempotency.dependencies import IDEMPOTENCY_KEY_PARAMETER, REPLAYED_HEADER, IdempotencyDep
from app.idempotency.service import Executor
from app.tasks import direct_resolvers, service
from app.tasks.dependencies import (
    IF_MATCH_PARAMETER,
    IF_NONE_MATCH_PARAMETER,
    LIST_PARAMETERS,
    IfMatchVersions,
    IfNoneMatch,
    ListPageDep,
    OwnTask,
    TaskIdPath,
)
from app.tasks.etags import ETAG_HEADER, task_etag, task_response
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
        409: "A request with the same Idempotency-Key is still being processed "
        "(`idempotency_in_progress`); retry shortly.",
        412: "If-Match does not match the task's current ETag, or is not a list of quoted "
        "ETags (`precondition_failed`); nothing was changed.",
        413: "Request body over 1 MiB.",
        422: "Invalid input, including a malformed Idempotency-Key, or an Idempotency-Key "
        "reused with a different body (`idempotency_key_reused`); nothing was changed.",
        428: "The server requires If-Match on writes (REQUIRE_IF_MATCH) and none was sent "
        "(`precondition_required`).",
        503: "The database is unavailable (`database_unavailable`), or the server is at its "
        "bound of concurrent requests (`overloaded`); retry after `Retry-After` seconds.",
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
# The writes to an existing task, which take If-Match.
CONDITIONAL_ERRORS = _errors(412, 428)
IDEMPOTENCY_ERRORS = _errors(409)
# The writes that may complete a repeating task, or check a rule against the stored task.
WRITE_CONFLICT_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "The task kept changing while this write was being checked "
        "(`write_conflict`); nothing was changed, retry.",
    }
}


def task_ok(description: str = "The task.") -> dict[int | str, dict[str, Any]]:
    """The documented 200 of a route that answers with one task (and its ETag)."""
    return {200: {"description": description, "headers": ETAG_HEADER}}


router = APIRouter(
    prefix="/api/v1/{user_id}/tasks",
    tags=["tasks"],
    responses=COMMON_ERRORS,
)


@router.get(
    "",
    response_model=TaskList,
    summary="List, filter, search and sort the caller's tasks (newest first by default)",
    description="Every filter given must hold, and `total` counts every task that matches.",
    openapi_extra={"parameters": LIST_PARAMETERS},
)
@resolved_directly(direct_resolvers.list_tasks)
async def list_tasks(user_id: CurrentUserId, db: DatabaseDep, page: ListPageDep) -> Response:
    limit, offset = page.limit, page.offset
    found = await service.list_tasks(db, user_id, page.to_query(), limit=limit, offset=offset)
    return JSONBytesResponse(
        {"tasks": found.tasks, "total": found.total, "limit": limit, "offset": offset}
    )


@router.post(
    "",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    responses={
        status.HTTP_201_CREATED: {
            "description": "Created (or, with `Idempotent-Replayed: true`, created earlier "
            "by a request with the same Idempotency-Key).",
            "headers": {
                "Location": {
                    "description": "The new task's URL: `/api/v1/{user_id}/tasks/{id}`.",
                    "required": True,
                    "schema": {"type": "string"},
                },
                **ETAG_HEADER,
                **REPLAYED_HEADER,
            },
        },
        **BODY_ERRORS,
        **IDEMPOTENCY_ERRORS,
    },
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER]},
)
@resolved_directly(direct_resolvers.create_task)
async def create_task(
    body: TaskCreate, user_id: CurrentUserId, idempotency: IdempotencyDep
) -> Response:
    async def create(db: Executor) -> Response:
        task = await service.create_task(db, user_id, body.model_dump())
        location = f"/api/v1/{quote(user_id, safe='')}/tasks/{task['id']}"
        return task_response(task, status.HTTP_201_CREATED, {"Location": location})

    return await idempotency.run(user_id, create)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    responses={
        **task_ok(),
        status.HTTP_304_NOT_MODIFIED: {
            "description": "If-None-Match matches the task's current ETag; no body.",
            "headers": ETAG_HEADER,
        },
        **TASK_ERRORS,
    },
    summary="Get one task",
    openapi_extra={"parameters": [IF_NONE_MATCH_PARAMETER]},
)
@resolved_directly(direct_resolvers.get_task)
async def get_task(task: OwnTask, if_none_match: IfNoneMatch) -> Response:
    if if_none_match is not None and if_none_match.matches_weakly(str(task["version"])):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": task_etag(task)})
    return task_response(task)


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    responses={
        **task_ok(),
        **TASK_ERRORS,
        **BODY_ERRORS,
        **CONDITIONAL_ERRORS,
        **WRITE_CONFLICT_ERRORS,
    },
    summary="Replace a task",
    openapi_extra={"parameters": [IF_MATCH_PARAMETER]},
)
async def replace_task(
    task_id: TaskIdPath,
    body: TaskReplace,
    user_id: CurrentUserId,
    db: DatabaseDep,
    if_versions: IfMatchVersions,
) -> Response:
    task = await service.update_task(
        db, user_id, task_id, body.model_dump(), if_versions=if_versions
    )
    return task_response(task)


@router.patch(
    "/{task_id}",
    response_model=TaskPublic,
    responses={
        **task_ok(),
        **TASK_ERRORS,
        **BODY_ERRORS,
        **CONDITIONAL_ERRORS,
        **WRITE_CONFLICT_ERRORS,
    },
    summary="Change some fields of a task",
    openapi_extra={"parameters": [IF_MATCH_PARAMETER]},
)
@resolved_directly(direct_resolvers.update_task)
async def update_task(
    task_id: TaskIdPath,
    body: TaskUpdate,
    user_id: CurrentUserId,
    db: DatabaseDep,
    if_versions: IfMatchVersions,
) -> Response:
    task = await service.update_task(db, user_id, task_id, body.changes(), if_versions=if_versions)
    return task_response(task)


@router.patch(
    "/{task_id}/complete",
    response_model=TaskPublic,
    responses={
        **task_ok(),
        **TASK_ERRORS,
        **BODY_ERRORS,
        **CONDITIONAL_ERRORS,
        **WRITE_CONFLICT_ERRORS,
    },
    summary="Set or toggle completion",
    openapi_extra={"parameters": [IF_MATCH_PARAMETER]},
)
@resolved_directly(direct_resolvers.complete_task)
async def complete_task(
    task_id: TaskIdPath,
    user_id: CurrentUserId,
    db: DatabaseDep,
    if_versions: IfMatchVersions,
    body: Annotated[TaskCompletion | None, Body()] = None,
) -> Response:
    completed = body.completed if body is not None else None
    task = await service.set_completed(db, user_id, task_id, completed, if_versions=if_versions)
    return task_response(task)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**TASK_ERRORS, **CONDITIONAL_ERRORS},
    summary="Move a task to the trash",
    description="It can be restored from the trash until the trash empties itself.",
    openapi_extra={"parameters": [IF_MATCH_PARAMETER]},
)
@resolved_directly(direct_resolvers.delete_task)
async def delete_task(
    task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep, if_versions: IfMatchVersions
) -> Response:
    await service.delete_task(db, user_id, task_id, if_versions=if_versions)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
