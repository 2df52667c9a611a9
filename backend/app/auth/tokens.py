"""What every token verifier shares: the interface, the claims it yields, its errors and the
claim rules. No session is kept: each token is verified on its own."""

from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from app.users.fields import EMAIL_MAX_LENGTH, USER_ID_MAX_LENGTH

REQUIRED_CLAIMS = ["sub", "exp", "iat"]


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (safe to show the caller)."""


class IdentityProviderUnavailable(Exception):
    """No signing key of the identity provider has ever been fetched, so nothing can be verified."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("The identity provider's signing keys could not be fetched.")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    email: str | None


class TokenVerifier(Protocol):
    """One per application (app.state.token_verifier), opened and closed with its lifespan."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def verify(self, token: str) -> Claims:
        """The token's claims, or InvalidToken (401) / IdentityProviderUnavailable (503)."""
        ...


def decode_payload(
    token: str,
    key: Any,
    *,
    algorithms: list[str],
    issuer: str | None,
    audience: str | None,
    leeway: int,
) -> dict[str, Any]:
    """Checks signature and registered claims; every failure becomes InvalidToken."""
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            # Only the algorithms of the configured mode: never "none", never one the token picks.
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": REQUIRED_CLAIMS, "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("The token is not valid yet.") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"The token is invalid: {exc}") from exc
    return payload


def claims_from_payload(payload: dict[str, Any]) -> Claims:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > USER_ID_MAX_LENGTH or "\x00" in sub:
        raise InvalidToken("The token's subject is not a usable user id.")
    email = payload.get("email")
    if not isinstance(email, str) or len(email) > EMAIL_MAX_LENGTH or "\x00" in email:
        email = None
    return Claims(sub=sub, email=email)
