"""Typed dependencies: who is calling, and may they act on the `{user_id}` in the path."""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.tokens import Claims, IdentityProviderUnavailable, InvalidToken, TokenVerifier
from app.core.database import DatabaseDep
from app.core.errors import ApiError
from app.users.service import ensure_user

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A JWT from the identity provider: `Authorization: Bearer <token>`.",
)


# `async` although it never awaits: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop on every request for one attribute read.
async def get_token_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


def _unauthorized(detail: str, code: str, error: str | None = None) -> ApiError:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return ApiError(401, code, detail, {"WWW-Authenticate": challenge})


async def token_claims(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    verifier: Annotated[TokenVerifier, Depends(get_token_verifier)],
) -> Claims:
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


async def path_owner_claims(
    user_id: UserIdPath, claims: Annotated[Claims, Depends(token_claims)]
) -> Claims:
    """403 when the path names someone else; decided before any database work."""
    if user_id != claims.sub:
        raise ApiError(403, "forbidden", "The user id in the path is not the token's subject.")
    return claims


async def current_user_id(
    claims: Annotated[Claims, Depends(path_owner_claims)], db: DatabaseDep
) -> str:
    await ensure_user(db, claims.sub, claims.email)
    return claims.sub


CurrentUserId = Annotated[str, Depends(current_user_id)]
