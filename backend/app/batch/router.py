from fastapi import APIRouter, Response, status

from app.auth.dependencies import CurrentUserId
from app.batch import service
from app.batch.schemas import MAX_OPERATIONS, BatchConflict, BatchRequest, BatchResults
from app.core.config import SettingsDep
from app.core.json_response import JSONBytesResponse
from app.core.method_not_allowed import reserve_fixed_path
from app.idempotency.dependencies import IDEMPOTENCY_KEY_PARAMETER, REPLAYED_HEADER, IdempotencyDep
from app.idempotency.service import Executor
from app.tasks.router import BODY_ERRORS, COMMON_ERRORS

router = APIRouter(prefix="/api/v1/{user_id}/tasks", tags=["tasks"], responses=COMMON_ERRORS)


@router.post(
    "/batch",
    response_model=BatchResults,
    summary="Apply several task operations in one request",
    description=(
        f"Up to {MAX_OPERATIONS} operations (create, update, complete, delete), applied in "
        "order; `ref:<name>` names a task created earlier in the batch. Each result carries "
        "the status the single route would have answered. With `atomic: true`, either every "
        "operation is applied or none (409 `batch_failed`, with the results). Takes an "
        "Idempotency-Key like POST /tasks."
    ),
    responses={
        status.HTTP_200_OK: {
            "description": "Every operation's result, in order (non-atomic: some may have "
            "failed; atomic: all succeeded).",
            "headers": REPLAYED_HEADER,
        },
        status.HTTP_409_CONFLICT: {
            "model": BatchConflict,
            "description": "`batch_failed`: an atomic batch had a failing operation and nothing "
            "was applied (see `results`); or `idempotency_in_progress`.",
        },
        **BODY_ERRORS,
    },
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_PARAMETER]},
)
async def run_batch(
    body: BatchRequest,
    user_id: CurrentUserId,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    async def apply(db: Executor) -> Response:
        outcome = await service.run_batch(
            db, user_id, body, require_if_match=settings.require_if_match
        )
        if not outcome.applied:
            return JSONBytesResponse(
                {
                    "detail": "An operation of this atomic batch failed; nothing was applied.",
                    "code": "batch_failed",
                    "results": outcome.results,
                },
                status.HTTP_409_CONFLICT,
            )
        return JSONBytesResponse({"results": outcome.results})

    return await idempotency.run(user_id, apply)


reserve_fixed_path(router, "/batch", ["POST"])
