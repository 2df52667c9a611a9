"""Cross-origin access for browser front ends, from CORS_ORIGINS.

Credentials (cookies) are allowed only with an explicit list of origins: with "*" any site
could make a logged-in visitor's browser call the API. The API itself authenticates with a
bearer token, which a browser never attaches on its own, so "*" exposes nothing by itself.
"""

from collections.abc import Callable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from app.core.config import Settings

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
)
# Response headers that a browser script may read.
EXPOSED_HEADERS = ("Location", "ETag", "X-Request-ID", "Retry-After", "Idempotent-Replayed")
PREFLIGHT_CACHE_SECONDS = 600


def cors_wrapper(settings: Settings) -> Callable[[ASGIApp], ASGIApp] | None:
    """What wraps an ASGI app in the configured CORS middleware; None when no origin is
    configured: browsers then refuse cross-origin calls, and same-origin requests pay
    nothing."""
    origins = settings.cors_origins
    if not origins:
        return None

    def wrap(app: ASGIApp) -> ASGIApp:
        return CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_CACHE_SECONDS,
        )

    return wrap
