"""JSON bodies serialised once, by orjson, straight from the rows the service returns.

Given a dict, FastAPI validates it into the route's `response_model` and then serialises
that model: for a page of 50 tasks, 50 models built per request only to be thrown away,
which cost more CPU than the query (docs/performance.md). Routes that return this
response still declare their `response_model`, so /openapi.json documents the same shape;
the contract tests check the bodies. Timestamps keep pydantic's form (`...Z`).
"""

import uuid
from typing import Any

import orjson
from starlette.responses import Response


def _uuid_text(value: object) -> str:
    # asyncpg returns its own uuid.UUID subclass, which orjson does not take natively.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_uuid_text, option=orjson.OPT_UTC_Z)


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
