"""Typed dependencies of the task routes: the task in the path, and the conditional headers."""

import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.auth.dependencies import CurrentUserId
from app.core.config import Settings
from app.core.database import DatabaseDep
from app.core.errors import ApiError
from app.core.etags import Condition, MalformedCondition, parse_condition
from app.core.openapi import header_parameter
from app.tasks import service
from app.tasks.etags import if_match_versions as versions_of
from app.tasks.schemas import LIST_LIMIT_MAX, MAX_OFFSET, ListPage, ListParameters
from app.tasks.service import TaskRow

TaskIdPath = Annotated[uuid.UUID, Path(description="The task's id (a UUID).")]


async def own_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> TaskRow:
    """The caller's task named in the path, or 404."""
    return await service.get_task(db, user_id, task_id)


OwnTask = Annotated[TaskRow, Depends(own_task)]


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


# The list's query string is read here rather than declared as FastAPI query parameters:
# FastAPI's per-parameter extraction of the list's eleven parameters was a seventh of the CPU
# time of a list request, most of it when none is given. The published parameters are what
# FastAPI generates from the declaration below (LIST_PARAMETERS), so the OpenAPI schema, the
# validation (one pydantic model, the same fields and constraints) and the errors (422 with
# `["query", <name>]` locations) are as they were.
_SINGLE_VALUED = tuple(name for name in ListPage.model_fields if name != "tag")
_FIRST_PAGE = ListPage()


async def list_page(request: Request) -> ListPage:
    """The list's filters, sort and paging from the query string, or the 422."""
    params = request.query_params
    if not params:
        return _FIRST_PAGE
    # A repeated single-valued parameter counts with its last value, as FastAPI reads it.
    values: dict[str, Any] = {name: params[name] for name in _SINGLE_VALUED if name in params}
    tags = params.getlist("tag")
    if tags:
        values["tag"] = tags
    try:
        return ListPage.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in errors]
        ) from None


ListPageDep = Annotated[ListPage, Depends(list_page)]


def _declared_list_parameters() -> list[dict[str, Any]]:
    """The OpenAPI parameters FastAPI publishes for the list's declaration."""
    declaration = FastAPI()

    @declaration.get("/")
    async def list_declaration(
        query: Annotated[ListParameters, Query()],
        limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> None:
        """Never served: FastAPI describes these parameters for the OpenAPI schema."""

    parameters: list[dict[str, Any]] = declaration.openapi()["paths"]["/"]["get"]["parameters"]
    return parameters


LIST_PARAMETERS = _declared_list_parameters()
