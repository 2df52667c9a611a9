"""The `Idempotency-Key` header of the POST routes, as one typed dependency."""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.core.config import Settings
from app.core.database import Database
from app.core.openapi import header_parameter
from app.idempotency import service
from app.idempotency.fields import KEY_MAX_LENGTH

# 1 to 255 printable ASCII characters. HTTP strips spaces around a header value, so a key
# can neither start nor end with one.
KEY_PATTERN = rf"^[!-~](?:[ -~]{{0,{KEY_MAX_LENGTH - 2}}}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)

KEY_DESCRIPTION = (
    f"Makes a retried POST safe: 1 to {KEY_MAX_LENGTH} printable ASCII characters, unique "
    "per request you mean (a UUID is a good choice); scoped to your user. The first response "
    "is kept (see IDEMPOTENCY_TTL_HOURS, 24 hours by default): the same key with the same "
    "JSON body gets it again, with `Idempotent-Replayed: true`, and nothing is done again; "
    "with a different body, 422 `idempotency_key_reused`; while the first is still being "
    "processed, 409 `idempotency_in_progress`. A first response that is an error is not kept."
)

REPLAYED_HEADER: dict[str, dict[str, Any]] = {
    service.REPLAYED_MARKER: {
        "description": "`true` when this is the stored response to an earlier request with the "
        "same Idempotency-Key (nothing was done again). Absent otherwise.",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    }
}


@dataclass(frozen=True, slots=True)
class Idempotency:
    """Runs a route's operation at most once per Idempotency-Key (or plainly, without one)."""

    request: Request
    key: str | None

    async def run(self, owner_id: str, operation: service.Operation) -> Response:
        """`operation`'s response; with a key, run at most once for `owner_id` and the key."""
        state = self.request.app.state
        db: Database = state.database
        if self.key is None:
            return await operation(db)
        settings: Settings = state.settings
        route = self.request.scope.get("route")
        path = route.path if isinstance(route, APIRoute) else self.request.url.path
        # The body was parsed and validated before the route ran; the parse is cached.
        body = await self.request.json()
        fingerprint = service.fingerprint(f"{self.request.method} {path}", body)
        return await service.respond_once(
            db, owner_id, self.key, fingerprint, settings.idempotency_ttl_hours, operation
        )


# No sub-dependencies or Header() parameter (the database and settings are read when needed,
# the header is published by the routes): each costs CPU on every request, and most requests
# carry no key.
async def idempotency(request: Request) -> Idempotency:
    lines = request.headers.getlist("idempotency-key")
    if not lines:
        key = None
    elif len(lines) == 1 and _KEY.match(lines[0]):
        key = lines[0]
    else:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "Idempotency-Key"),
                    "msg": f"must be one value of 1 to {KEY_MAX_LENGTH} printable ASCII characters",
                    "input": ", ".join(lines),
                }
            ]
        )
    return Idempotency(request, key)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
IDEMPOTENCY_KEY_PARAMETER = header_parameter(
    "Idempotency-Key",
    KEY_DESCRIPTION,
    {"minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": KEY_PATTERN},
)
