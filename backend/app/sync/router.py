from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.core.errors import ErrorBody
from app.core.json_response import JSONBytesResponse
from app.core.method_not_allowed import reserve_fixed_path
from app.sync import cursor, service
from app.sync.schemas import ChangeFeed
from app.tasks.router import COMMON_ERRORS

FEED_ERRORS: dict[int | str, dict[str, Any]] = {
    410: {
        "model": ErrorBody,
        "description": (
            "`cursor_expired`: the cursor is older than the kept tombstones, or from before "
            "the account was erased; sync again without `since`."
        ),
    },
}

router = APIRouter(prefix="/api/v1/{user_id}/tasks", tags=["sync"], responses=COMMON_ERRORS)


@router.get(
    "/changes",
    response_model=ChangeFeed,
    responses=FEED_ERRORS,
    summary="What changed since a cursor (or everything, to start)",
    description=(
        "Without `since`: every current task, paged. With `since`: every task created, "
        "changed or restored after it (latest state, once) and the id of every task trashed "
        "or removed after it. Follow `cursor` while `has_more`; keep the last `cursor` for "
        "the next sync. A malformed cursor is 422 with code `invalid_cursor`."
    ),
)
async def change_feed(
    user_id: CurrentUserId,
    db: DatabaseDep,
    since: Annotated[
        str | None,
        Query(description="The `cursor` of a previous answer; leave out to start from scratch."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    position = None if since is None else cursor.decode(since)
    page = await service.change_feed(db, user_id, position, limit)
    return JSONBytesResponse(
        {
            "changes": page.changes,
            "deleted": page.deleted,
            "cursor": cursor.encode(page.cursor),
            "has_more": page.has_more,
        }
    )


reserve_fixed_path(router, "/changes", ["GET"])
