"""Direct resolvers of the task routes people use most (see app.core.direct_routes): each
calls the dependencies its route declares, in FastAPI's order, then the endpoint.

A resolver declines (None) before any side effect whenever FastAPI's own validation has
something to report (a task id that is not a canonical UUID, a body that is not a JSON object
valid for the route's model, a content type other than JSON): the declared handler then
answers exactly as it always does. Token, rate limit, path user, If-Match and the task's
ownership are checked by the same functions the dependencies call, so their errors are the
same either way.
"""

import re
import uuid
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from app.auth.dependencies import authenticate, bearer_credentials
from app.core.direct_routes import Endpoint
from app.idempotency.dependencies import idempotency
from app.tasks import service
from app.tasks.dependencies import if_match_versions, if_none_match, list_page
from app.tasks.schemas import TaskCompletion, TaskCreate, TaskUpdate

# The form every client sends; any other spelling FastAPI's validation may accept or refuse
# is left to it.
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_JSON = frozenset({"application/json", "application/json; charset=utf-8"})

Model = TypeVar("Model", bound=BaseModel)


def _task_id(request: Request) -> uuid.UUID | None:
    text: str = request.path_params["task_id"]
    return uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None


async def _json_body(request: Request, model: type[Model]) -> Model | None:
    """The body as `model`, or None when FastAPI should be the one to read it."""
    if request.headers.get("content-type", "").lower() not in _JSON:
        return None
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


async def _caller(request: Request) -> str:
    return await authenticate(
        request, request.path_params["user_id"], await bearer_credentials(request)
    )


async def list_tasks(request: Request, endpoint: Endpoint) -> Response:
    user_id = await _caller(request)
    page = await list_page(request)
    return await endpoint(user_id, request.app.state.database, page)


async def get_task(request: Request, endpoint: Endpoint) -> Response | None:
    task_id = _task_id(request)
    if task_id is None:
        return None
    user_id = await _caller(request)
    task = await service.get_task(request.app.state.database, user_id, task_id)
    return await endpoint(task, await if_none_match(request))


async def create_task(request: Request, endpoint: Endpoint) -> Response | None:
    body = await _json_body(request, TaskCreate)
    if body is None:
        return None
    user_id = await _caller(request)
    return await endpoint(body, user_id, await idempotency(request))


async def update_task(request: Request, endpoint: Endpoint) -> Response | None:
    task_id = _task_id(request)
    body = await _json_body(request, TaskUpdate) if task_id is not None else None
    if task_id is None or body is None:
        return None
    user_id = await _caller(request)
    versions = await if_match_versions(request)
    return await endpoint(task_id, body, user_id, request.app.state.database, versions)


async def complete_task(request: Request, endpoint: Endpoint) -> Response | None:
    task_id = _task_id(request)
    if task_id is None:
        return None
    body: TaskCompletion | None = None
    if await request.body():
        body = await _json_body(request, TaskCompletion)
        if body is None:
            return None
    user_id = await _caller(request)
    versions = await if_match_versions(request)
    return await endpoint(task_id, user_id, request.app.state.database, versions, body)


async def delete_task(request: Request, endpoint: Endpoint) -> Response | None:
    task_id = _task_id(request)
    if task_id is None:
        return None
    user_id = await _caller(request)
    versions = await if_match_versions(request)
    return await endpoint(task_id, user_id, request.app.state.database, versions)
