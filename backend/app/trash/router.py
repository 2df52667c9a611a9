from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.json_response import JSONBytesResponse
from app.core.method_not_allowed import reserve_fixed_path
from app.tasks.dependencies import TaskIdPath
from app.tasks.etags import task_response
from app.tasks.router import COMMON_ERRORS, TASK_ERRORS, task_ok
from app.tasks.schemas import MAX_OFFSET, TaskPublic
from app.trash import service
from app.trash.schemas import TrashList

router = APIRouter(prefix="/api/v1/{user_id}/tasks", tags=["trash"], responses=COMMON_ERRORS)


@router.get(
    "/trash",
    response_model=TrashList,
    summary="List the caller's trash, most recently deleted first",
)
async def list_trash(
    user_id: CurrentUserId,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    page = await service.list_trash(db, user_id, limit=limit, offset=offset)
    return JSONBytesResponse(
        {"tasks": page.tasks, "total": page.total, "limit": limit, "offset": offset}
    )


@router.delete(
    "/trash/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=TASK_ERRORS,
    summary="Remove a trashed task for good",
    description="404 unless the task is in the caller's trash.",
)
async def remove_for_good(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> Response:
    await service.remove_for_good(db, user_id, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{task_id}/restore",
    response_model=TaskPublic,
    responses={**task_ok("The restored task."), **TASK_ERRORS},
    summary="Restore a trashed task",
    description=(
        "The task comes back unchanged but for `version` and `updated_at`, which advance. "
        "404 unless it is in the caller's trash."
    ),
)
async def restore_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> Response:
    return task_response(await service.restore_task(db, user_id, task_id))


reserve_fixed_path(router, "/trash", ["GET"])
