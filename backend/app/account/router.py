from fastapi import APIRouter, Response, status

from app.account.schemas import AccountExport
from app.account.service import erase_account, export_account
from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.streaming import GeneratorResponse
from app.tasks.router import COMMON_ERRORS

router = APIRouter(prefix="/api/v1/{user_id}", tags=["account"], responses=COMMON_ERRORS)


@router.get(
    "/export",
    response_model=AccountExport,
    summary="Export everything stored about the caller",
    description=(
        "One JSON document, streamed: the user, their tasks, their trash and the record of "
        "deletions. It is a consistent snapshot."
    ),
)
async def export(user_id: CurrentUserId, db: DatabaseDep) -> Response:
    return await GeneratorResponse.start(export_account(db, user_id))


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase the caller's account and all of its data",
    description=(
        "The user and every task, trashed task, tombstone and idempotency record of theirs "
        "are deleted. A later valid token for the same subject starts a new, empty account."
    ),
)
async def erase(user_id: CurrentUserId, db: DatabaseDep) -> Response:
    await erase_account(db, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
