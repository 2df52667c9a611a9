import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import CurrentUserId
from app.core.config import SettingsDep
from app.core.database import DatabaseDep
from app.core.errors import ErrorBody
from app.core.json_response import JSONBytesResponse
from app.tasks.router import BODY_ERRORS, COMMON_ERRORS
from app.webhooks import service
from app.webhooks.fields import MAX_WEBHOOKS_PER_USER
from app.webhooks.schemas import (
    DeliveryList,
    WebhookCreate,
    WebhookList,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/v1/{user_id}/webhooks", tags=["webhooks"], responses=COMMON_ERRORS)

WebhookIdPath = Annotated[uuid.UUID, Path(description="The webhook's id (a UUID).")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such webhook for this user (`webhook_not_found`)."}
}
_URL_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": "Invalid input (`validation_error`); a URL that is not `https` or is "
        "malformed (`invalid_webhook_url`); a host that does not resolve, or resolves to a "
        "loopback, private, link-local or otherwise non-public address "
        "(`webhook_url_not_allowed`). Nothing was changed.",
    }
}
_CREATE_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": _URL_ERRORS[422]["description"]
        + f" The user already has {MAX_WEBHOOKS_PER_USER} webhooks (`too_many_webhooks`).",
    }
}


def _rules(settings: SettingsDep) -> service.UrlRules:
    return service.UrlRules(
        allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private
    )


@router.post(
    "",
    response_model=WebhookWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint",
    description=(
        f"At most {MAX_WEBHOOKS_PER_USER} per user. Events of the chosen types committed from "
        "now on are POSTed to `url`, signed as Standard Webhooks specifies (see "
        "docs/events.md). The answer is the only one that shows `secret`. Nothing is sent "
        "to the URL until an event happens."
    ),
    responses={**_CREATE_ERRORS, **BODY_ERRORS},
)
async def create_webhook(
    body: WebhookCreate, user_id: CurrentUserId, db: DatabaseDep, settings: SettingsDep
) -> Response:
    webhook = await service.create_webhook(
        db,
        user_id,
        url=body.url,
        events=body.events,
        description=body.description,
        rules=_rules(settings),
    )
    return JSONBytesResponse(webhook, status_code=status.HTTP_201_CREATED)


@router.get("", response_model=WebhookList, summary="List the caller's webhook endpoints")
async def list_webhooks(user_id: CurrentUserId, db: DatabaseDep) -> Response:
    return JSONBytesResponse({"webhooks": await service.list_webhooks(db, user_id)})


@router.get(
    "/{webhook_id}",
    response_model=WebhookPublic,
    summary="Get one webhook endpoint",
    responses=_NOT_FOUND,
)
async def get_webhook(
    webhook_id: WebhookIdPath, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    return JSONBytesResponse(await service.get_webhook(db, user_id, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    summary="Change a webhook endpoint's url, events, description or enabled",
    description=(
        "A new `url`, or `enabled: true` on a disabled endpoint, clears its failures: the "
        "next event is tried at once, from where the endpoint stood (events still kept, "
        "EVENT_RETENTION_HOURS, are delivered). New `events` apply from now on."
    ),
    responses={**_NOT_FOUND, **_URL_ERRORS, **BODY_ERRORS},
)
async def update_webhook(
    webhook_id: WebhookIdPath,
    body: WebhookUpdate,
    user_id: CurrentUserId,
    db: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    webhook = await service.update_webhook(
        db, user_id, webhook_id, body.changes(), _rules(settings)
    )
    return JSONBytesResponse(webhook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook endpoint and its delivery record",
    responses=_NOT_FOUND,
)
async def delete_webhook(
    webhook_id: WebhookIdPath, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    await service.delete_webhook(db, user_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Replace a webhook endpoint's signing secret",
    description="Deliveries signed from now on use the new secret only; the old one stops "
    "verifying at once. The answer is the only one that shows the new `secret`.",
    responses=_NOT_FOUND,
)
async def rotate_secret(
    webhook_id: WebhookIdPath, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    return JSONBytesResponse(await service.rotate_secret(db, user_id, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="A webhook endpoint's recent delivery attempts",
    description="Newest first, the last 100 attempts at most.",
    responses=_NOT_FOUND,
)
async def list_deliveries(
    webhook_id: WebhookIdPath, user_id: CurrentUserId, db: DatabaseDep
) -> Response:
    deliveries = await service.list_deliveries(db, user_id, webhook_id)
    return JSONBytesResponse({"deliveries": deliveries})
