from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.core.database import DatabaseDep
from app.core.errors import ErrorBody, error_response

READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers; touches nothing")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={
        503: {
            "model": ErrorBody,
            "description": "The database does not answer.",
            "headers": {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            },
        }
    },
)
async def readyz(db: DatabaseDep) -> Any:
    if await db.ping(READINESS_TIMEOUT_SECONDS):
        return {"status": "ok"}
    response: JSONResponse = error_response(
        503, "database_unavailable", "The database does not answer.", {"Retry-After": "5"}
    )
    return response
