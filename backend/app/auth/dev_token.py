"""`make token SUB=alice [EMAIL=...]`: a development token signed like `make run` expects."""

import argparse
import sys
import time

import jwt

from app.core.config import ConfigurationError, get_settings

DEFAULT_LIFETIME_SECONDS = 24 * 3600


def mint(
    secret: str,
    sub: str,
    email: str | None = None,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + lifetime_seconds}
    if email:
        claims["email"] = email
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True, help="the user id the token speaks for")
    parser.add_argument("--email")
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args(argv)
    if not args.sub:
        parser.error("SUB is required: make token SUB=alice")
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.is_production:
        print("make token refuses to mint tokens when APP_ENV=production.", file=sys.stderr)
        return 2
    if settings.uses_jwks:
        print(
            "make token mints shared-secret (HS256) tokens, which JWT_JWKS_URL mode never accepts: "
            "sign in through your identity provider and use the token it issues.",
            file=sys.stderr,
        )
        return 2
    print(
        mint(
            settings.signing_secret(),
            args.sub,
            args.email,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime_seconds=int(args.hours * 3600),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
