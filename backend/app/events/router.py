import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response

from app.auth.dependencies import CurrentUserId
from app.core.database import Database, DatabaseDep
from app.core.errors import ApiError, ErrorBody
from app.core.streaming import GeneratorResponse
from app.events import service
from app.events.hub import EventHub
from app.tasks.router import COMMON_ERRORS

router = APIRouter(prefix="/api/v1/{user_id}", tags=["events"], responses=COMMON_ERRORS)

# No id: the client keeps resuming from where it was until it has synced again.
RESET_BODY = (
    b'{"type":"reset","detail":"Events from that point are no longer kept; '
    b'sync from the change feed."}'
)
# A registration outlives its holder by at most this long.
STREAM_LEASE_SECONDS = 60.0
# How long a new stream waits for this process's LISTEN to be in place.
_READY_SECONDS = 5.0

_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: each event as `id:`, `event:` (its type) and "
        "`data:` (the event JSON, see docs/events.md); comment lines keep the stream open.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    429: {
        "model": ErrorBody,
        "description": "The user already has SSE_MAX_STREAMS_PER_USER streams open "
        "(`too_many_streams`), or too many requests for this user (`rate_limited`).",
        "headers": {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        },
    },
    503: {
        "model": ErrorBody,
        "description": "The server is shutting down or cannot listen for changes "
        "(`events_unavailable`), or the database is unavailable; retry.",
    },
}


def _frame(event_id: str | None, kind: str, body: bytes) -> bytes:
    head = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + kind.encode() + b"\ndata: " + body + b"\n\n"


@router.get(
    "/events",
    summary="Live events of the caller's tasks (Server-Sent Events)",
    description=(
        "A `text/event-stream` of every event committed after the response starts: "
        "`task.created`, `task.updated`, `task.deleted`, `task.restored`, `task.purged`, and "
        "`reminder.due` when a reminder of a task falls due. "
        "Reconnect with `Last-Event-ID` (or `?since=` a change-feed cursor) "
        "to first receive what was missed; a point no longer kept gets one `reset` event "
        "(sync from the change feed). See docs/events.md."
    ),
    responses=_STREAM_RESPONSES,
    response_class=Response,
)
async def stream_events(
    request: Request,
    user_id: CurrentUserId,
    db: DatabaseDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event id."),
    ] = None,
    since: Annotated[
        str | None,
        Query(max_length=200, description="Resume after this change-feed cursor."),
    ] = None,
) -> Response:
    hub: EventHub = request.app.state.event_hub
    if hub.closing or not await hub.ready(_READY_SECONDS):
        raise ApiError(
            503,
            "events_unavailable",
            "This instance cannot stream events now; reconnect.",
            {"Retry-After": "1"},
        )
    settings = request.app.state.settings
    start = await service.open_stream(
        db,
        user_id,
        last_event_id=last_event_id or None,
        since=since,
        max_streams=settings.sse_max_streams_per_user,
        lease_seconds=STREAM_LEASE_SECONDS,
    )
    chunks = _stream(db, hub, user_id, start, settings.sse_keepalive_seconds)
    response = await GeneratorResponse.start(chunks, media_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


async def _stream(
    db: Database,
    hub: EventHub,
    owner_id: str,
    start: service.StreamStart,
    keepalive_seconds: float,
) -> AsyncGenerator[bytes, None]:
    wake = hub.subscribe(owner_id, start.stream_id)
    try:
        # The first chunk: the response's headers go out with it, the stream registered.
        yield b": connected\n\n"
        if start.reset:
            yield _frame(None, "reset", RESET_BODY)
        after = start.after_id
        while not hub.closing:
            wake.clear()
            rows = await service.events_after(db, owner_id, after)
            if rows:
                after = rows[-1]["id"]
                yield b"".join(
                    _frame(service.event_id(row["id"]), row["type"], service.event_json(row))
                    for row in rows
                )
                if len(rows) == service.PAGE_SIZE:
                    continue
            with anyio.move_on_after(keepalive_seconds) as quiet:
                await wake.wait()
            if quiet.cancelled_caught:
                yield b": keep-alive\n\n"
    finally:
        hub.unsubscribe(owner_id, start.stream_id, wake)
        # Shielded: the client is gone and the body cancelled. If it fails, the lease expires.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await service.close_stream(db, start.stream_id)
