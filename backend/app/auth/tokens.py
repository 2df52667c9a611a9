"""Verification of bearer tokens issued by the identity provider. No session is kept."""

from dataclasses import dataclass
from typing import Any

import jwt

from app.core.config import Settings
from app.users.models import EMAIL_MAX_LENGTH, USER_ID_MAX_LENGTH

SHARED_SECRET_ALGORITHMS = ["HS256"]
REQUIRED_CLAIMS = ["sub", "exp", "iat"]


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (safe to show the caller)."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    email: str | None


class TokenVerifier:
    """Verifies HS256 tokens signed with the shared secret (JWT_SECRET / BETTER_AUTH_SECRET)."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_secret()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds

    def verify(self, token: str) -> Claims:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                # Only the algorithm of this mode: never "none", never one the token picks.
                algorithms=SHARED_SECRET_ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("The token is not valid yet.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"The token is invalid: {exc}") from exc
        return claims_from_payload(payload)


def claims_from_payload(payload: dict[str, Any]) -> Claims:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > USER_ID_MAX_LENGTH or "\x00" in sub:
        raise InvalidToken("The token's subject is not a usable user id.")
    email = payload.get("email")
    if not isinstance(email, str) or len(email) > EMAIL_MAX_LENGTH or "\x00" in email:
        email = None
    return Claims(sub=sub, email=email)
