from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.json_response import JSONBytesResponse
from app.reminders import service
from app.reminders.schemas import MAX_REMINDERS, ReminderList, ReminderWindow
from app.tasks.router import COMMON_ERRORS

router = APIRouter(prefix="/api/v1/{user_id}", tags=["reminders"], responses=COMMON_ERRORS)


@router.get(
    "/reminders",
    response_model=ReminderList,
    summary="The caller's reminders in a window of time",
    description=(
        "One reminder per offset of each live, open task with a `due_at`, at `due_at` minus "
        "the offset, for those with `from` <= `remind_at` < `to`. The window is at most 31 "
        f"days; at most {MAX_REMINDERS} reminders are listed (then `has_more` is true)."
    ),
)
async def list_reminders(
    user_id: CurrentUserId, db: DatabaseDep, window: Annotated[ReminderWindow, Query()]
) -> Response:
    page = await service.upcoming_reminders(
        db, user_id, window.from_, window.to, limit=MAX_REMINDERS
    )
    return JSONBytesResponse({"reminders": page.reminders, "has_more": page.has_more})
