"""What goes in and out of the webhook routes."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.storable_text import storable_text
from app.webhooks.fields import (
    DELIVERIES_KEPT,
    DESCRIPTION_MAX_LENGTH,
    EVENT_TYPES,
    URL_MAX_LENGTH,
)

EventType = Literal[
    "task.created",
    "task.updated",
    "task.deleted",
    "task.restored",
    "task.purged",
    "reminder.due",
]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


def _no_duplicates(types: list[str]) -> list[str]:
    if len(set(types)) != len(types):
        raise ValueError("must not name an event type twice")
    return types


Url = Annotated[
    StrictStr,
    AfterValidator(storable_text),
    Field(
        min_length=1,
        max_length=URL_MAX_LENGTH,
        description="Where events are POSTed: `https://...` (`http://` only on a server with "
        "WEBHOOK_ALLOW_HTTP=true), whose host resolves to public addresses only.",
        examples=["https://example.com/hooks/todo"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    AfterValidator(_no_duplicates),
    Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="The event types to deliver (each at most once).",
        examples=[["task.created", "task.updated"]],
        json_schema_extra={"uniqueItems": True},
    ),
]
Description = Annotated[
    StrictStr,
    AfterValidator(storable_text),
    Field(max_length=DESCRIPTION_MAX_LENGTH, description="A note for yourself."),
]


class _Input(BaseModel):
    # Unknown fields are errors, as everywhere in the API.
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Input):
    url: Url
    events: EventTypes
    description: Description | None = None


class WebhookUpdate(_Input):
    """PATCH: only the fields present change; `description` may be null."""

    url: Url | SkipJsonSchema[None] = None
    events: EventTypes | SkipJsonSchema[None] = None
    description: Description | None = None
    enabled: StrictBool | SkipJsonSchema[None] = Field(
        None,
        description="false stops deliveries; true (re)starts them from where the endpoint "
        "stood, with its failures cleared.",
    )

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> "WebhookUpdate":
        for name in ("url", "events", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class WebhookPublic(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    events: list[EventType]
    enabled: bool = Field(
        description="false once disabled through the API or after failing deliveries "
        "for WEBHOOK_DISABLE_AFTER_HOURS (see `disabled_reason`)."
    )
    last_event_id: str = Field(
        description="The last event delivered or passed over (`evt_0`: none yet); the next "
        "event of the endpoint's types after it is the next one sent."
    )
    failing_since: datetime | None = Field(
        description="The first failure of the current run of failed deliveries; null while "
        "deliveries succeed."
    )
    next_attempt_at: datetime | None = Field(
        description="While failing: when the failed event is tried again."
    )
    disabled_at: datetime | None
    disabled_reason: str | None = Field(description="Why the endpoint was disabled.")
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(
        description="The signing secret (`whsec_` and base64), shown only in this answer: "
        "verify each delivery's `webhook-signature` with it (Standard Webhooks)."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic] = Field(description="Oldest first; never a `secret`.")


class Delivery(BaseModel):
    id: int
    event_id: str = Field(description="The event sent (its `webhook-id`).")
    event_type: EventType
    attempt: int = Field(description="1 for the first attempt at this event, 2 for its retry...")
    status_code: int | None = Field(description="The receiver's status; null if none came.")
    error: str | None = Field(
        description="What went wrong when there was no 2xx (`address not allowed`, a timeout, "
        "a connection error, `redirects are not followed`); null otherwise."
    )
    succeeded: bool = Field(description="A 2xx came within 10 s.")
    duration_ms: int
    created_at: datetime = Field(description="When the attempt ended.")


class DeliveryList(BaseModel):
    deliveries: list[Delivery] = Field(
        description=f"Newest first; the last {DELIVERIES_KEPT} attempts are kept."
    )
