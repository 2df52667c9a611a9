"""Every error leaves the API as JSON `{"detail": ..., "code": ...}`, never as a stack trace."""

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from app.core.database import DatabaseUnavailable

logger = logging.getLogger("app.errors")

DATABASE_RETRY_AFTER_SECONDS = 5

# Codes for errors raised by the framework itself rather than by our handlers.
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ErrorBody(BaseModel):
    """The shape of every error response (documented in the OpenAPI schema)."""

    detail: str | list[dict[str, Any]]
    code: str


class ApiError(Exception):
    """An expected failure with a stable machine-readable code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str | list[dict[str, Any]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})


async def send_error(
    send: Send,
    status_code: int,
    code: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    close: bool = True,
) -> None:
    """The same JSON error, sent by an ASGI middleware that answers before (or instead of)
    the app; by default the connection is closed after it, as the request body may not have
    been read."""
    body = orjson.dumps({"detail": detail, "code": code})
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *([(b"connection", b"close")] if close else []),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status_code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def error_response(
    status_code: int, code: str, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI answers 400 when a body is not UTF-8 or nests too deeply for the JSON
        # parser; to the caller that is malformed JSON like any other, so 422 as documented.
        return error_response(422, "invalid_json", [_unreadable_json(exc.__cause__)])
    code = STATUS_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, exc.detail, exc.headers)


def _unreadable_json(cause: BaseException) -> dict[str, Any]:
    reason = "too deeply nested" if isinstance(cause, RecursionError) else "not UTF-8 text"
    return {
        "type": "json_invalid",
        "loc": ["body"],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": f"The body is {reason}."},
    }


def _json_safe(error: Mapping[str, Any]) -> dict[str, Any]:
    # pydantic puts the raised exception object in `ctx`; keep its message only.
    cleaned = dict(error)
    if "ctx" in cleaned:
        cleaned["ctx"] = {key: str(value) for key, value in cleaned["ctx"].items()}
    cleaned.pop("url", None)
    result: dict[str, Any] = _encodable(jsonable_encoder(cleaned))
    return result


def _encodable(value: Any) -> Any:
    """The rejected input echoed back must itself be valid JSON in UTF-8: JSON bodies may
    carry NaN, Infinity, unpaired surrogates and integers of any size, which the response
    encoders refuse."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # beyond what the orjson responses (the batch results) can encode
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors as the `detail` of a 422, safe to encode as JSON."""
    return [_json_safe(error) for error in errors]


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_detail(exc.errors())
    code = (
        "invalid_json"
        if any(e.get("type") == "json_invalid" for e in errors)
        else "validation_error"
    )
    return error_response(422, code, errors)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", exc)
    return error_response(
        503,
        "database_unavailable",
        "The database is unavailable; retry shortly.",
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
