"""Typed dependencies: who is calling, and may they act on the `{user_id}` in the path."""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.tokens import Claims, IdentityProviderUnavailable, InvalidToken, TokenVerifier
from app.core.database import Database
from app.core.errors import ApiError
from app.core.rate_limit import enforce_rate_limit
from app.core.request_log import record_caller
from app.users.service import ensure_user

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A JWT from the identity provider: `Authorization: Bearer <token>`.",
)


def _unauthorized(detail: str, code: str, error: str | None = None) -> ApiError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return ApiError(401, code, detail, {"WWW-Authenticate": challenge})


async def verified_claims(
    verifier: TokenVerifier, credentials: HTTPAuthorizationCredentials | None
) -> Claims:
    """The token's claims, or the 401 (503 when a JWKS provider cannot be reached)."""
    if credentials is None:
        raise _unauthorized("Missing bearer token.", "not_authenticated")
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(str(exc), "invalid_token", "invalid_token") from exc
    except IdentityProviderUnavailable as exc:
        raise ApiError(
            503,
            "identity_provider_unavailable",
            "The identity provider's signing keys could not be fetched; retry shortly.",
            {"Retry-After": str(exc.retry_after_seconds)},
        ) from exc


UserIdPath = Annotated[
    str, Path(description="The identity provider's user id (the token's `sub`).")
]


async def current_user_id(
    request: Request,
    user_id: UserIdPath,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """Every check of an authenticated route, in order: the token (401), the caller named
    in the request log, their rate limit (429), the path's user id (403), and only then the
    database (the user's row is provisioned once per process).

    One dependency rather than a chain of small ones: FastAPI resolves every sub-dependency
    on every request, cached or not, and that resolution was a fifth of the CPU time of a
    task request. `bearer_scheme` stays a dependency because it is what declares the security
    scheme in the OpenAPI schema.
    """
    return await authenticate(request, user_id, credentials)


async def authenticate(
    request: Request, user_id: str, credentials: HTTPAuthorizationCredentials | None
) -> str:
    """`current_user_id`'s checks, for direct resolvers (app.core.direct_routes) too."""
    state = request.app.state
    claims = await verified_claims(state.token_verifier, credentials)
    record_caller(request, claims.sub)
    await enforce_rate_limit(request, claims.sub)
    if user_id != claims.sub:
        raise ApiError(403, "forbidden", "The user id in the path is not the token's subject.")
    database: Database = state.database
    await ensure_user(database, claims.sub, claims.email)
    return claims.sub


CurrentUserId = Annotated[str, Depends(current_user_id)]


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """What `bearer_scheme` gives a dependency, read without FastAPI's dependency solving."""
    return await bearer_scheme(request)
