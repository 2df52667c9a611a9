"""Settings, read once from the environment (and `backend/.env`)."""

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, Request
from limits import parse_many
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parents[2]
MIN_PRODUCTION_SECRET_BYTES = 32

# The two identity modes never share an algorithm: accepting HS256 next to public keys is the
# classic algorithm-confusion hole (an HS256 token "signed" with the public key's bytes).
SHARED_SECRET_ALGORITHMS = ("HS256",)
JWKS_DEFAULT_ALGORITHMS = ("EdDSA", "ES256", "RS256")
JWKS_SUPPORTED_ALGORITHMS = (
    "EdDSA",
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """Raised at start-up when the configuration cannot be served safely."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=BACKEND_DIR / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_env: Environment = Environment.DEVELOPMENT

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    # 0 means one worker per core.
    workers: Annotated[int, Field(ge=0)] = 0

    # Unset outside production: an embedded PostgreSQL under DATA_DIR is used instead.
    database_url: str | None = None
    # Migrations run here when set (Neon: the direct host, not the "-pooler" one).
    database_url_direct: str | None = None
    db_pool_min_size: Annotated[int, Field(ge=0)] = 0
    db_pool_max_size: Annotated[int, Field(ge=1)] = 10
    db_connect_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # How long a request waits for a free pooled connection before answering 503.
    db_pool_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    db_command_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Idle connections are closed after this long, so that a suspended Neon compute
    # or a restarted server never hands us a connection it has already dropped.
    db_pool_recycle_seconds: Annotated[float, Field(ge=0)] = 300.0
    # asyncpg's prepared-statement cache to start with. Unset: 0 when the host name contains
    # "-pooler" (Neon's PgBouncer), else 100; switched off by itself at the first error a
    # transaction-mode pooler causes (app.core.database).
    db_statement_cache_size: Annotated[int | None, Field(ge=0)] = None

    jwt_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("JWT_SECRET", "BETTER_AUTH_SECRET")
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 30
    # JWKS mode when set: tokens are verified with the identity provider's published public keys
    # (Better Auth: <base URL>/api/auth/jwks) and JWT_SECRET is not used.
    jwt_jwks_url: str | None = None
    # Comma-separated; empty means the mode's default (HS256, or EdDSA,ES256,RS256 with JWKS).
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = ()
    jwt_jwks_cache_ttl_seconds: Annotated[float, Field(gt=0)] = 300.0
    # At most one refetch per this many seconds for tokens naming an unknown key id.
    jwt_jwks_cooldown_seconds: Annotated[float, Field(ge=0)] = 30.0
    jwt_jwks_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    # Tokens already verified are remembered (per process, until their `exp`) so that the next
    # request with the same token skips the signature check. 0: verify every request in full.
    jwt_verified_cache_size: Annotated[int, Field(ge=0)] = 10_000

    # Load shedding (app/core/admission.py): a worker takes at most as many requests at once as
    # it finishes in this many milliseconds (at its recent rate), and at most
    # MAX_CONCURRENT_REQUESTS; the next one is refused at once with 503 `overloaded` and
    # Retry-After instead of queueing (health probes and /metrics never are). 0: no such bound.
    # See docs/performance.md for how the defaults were chosen.
    max_expected_wait_ms: Annotated[int, Field(ge=0)] = 100
    max_concurrent_requests: Annotated[int, Field(ge=0)] = 128

    # Seconds in-flight requests get to finish after SIGTERM; a worker still busy then is
    # stopped.
    shutdown_grace_seconds: Annotated[int, Field(ge=1)] = 20
    # A client must send its request line and headers within this many seconds of opening the
    # connection or of its previous response (so idle keep-alive connections close too).
    http_header_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0

    data_dir: Path = BACKEND_DIR / ".data"
    log_level: str = "info"
    # "json": one JSON object per line (for log collectors); "text": for reading in a terminal.
    log_format: Literal["json", "text"] = "json"

    # Per-user limit on the task routes, in `limits` notation: "600/minute", or several
    # separated by ";" ("20/second;600/minute"). Empty: no limit.
    rate_limit: str = ""
    # moving-window: exact, and the cheapest for in-process counters with many users (the
    # other two make the in-process store rescan every user on each request).
    rate_limit_strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = (
        "moving-window"
    )
    # Counters live here when set (shared by every instance); otherwise in each process.
    redis_url: str | None = None
    rate_limit_key_prefix: str = "todo-rate-limit"
    # Comma-separated browser origins allowed to call the API ("https://app.example.com").
    # Empty: no cross-origin access. "*" alone: any origin, never with credentials.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Prometheus metrics at /metrics (no token needed: restrict it at the proxy, or turn it off).
    metrics_enabled: bool = True
    # Strict-Transport-Security max-age; 0: header not sent. Set only when served over HTTPS.
    hsts_max_age_seconds: Annotated[int, Field(ge=0)] = 0

    # Trashed tasks are removed for good this many days after they were trashed.
    trash_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 30
    # Tombstones (what the change feed reports as deleted) are kept this many days; a feed
    # cursor that would need a purged one answers 410 and the client syncs from scratch.
    tombstone_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 90
    # How often each worker tries to run the retention sweep (one worker at a time does it,
    # under a PostgreSQL advisory lock). 0: never, in this process.
    housekeeping_interval_seconds: Annotated[float, Field(ge=0)] = 3600.0
    # Writes to an existing task (PUT, PATCH, /complete, DELETE, and their batch operations)
    # must carry If-Match; without it they are answered 428 instead of "last write wins".
    require_if_match: bool = False
    # How long the first response to an Idempotency-Key is kept for replays.
    idempotency_ttl_hours: Annotated[int, Field(ge=1, le=24 * 365)] = 24

    # Events (docs/events.md): kept this long for SSE replay (Last-Event-ID) and webhook retries.
    event_retention_hours: Annotated[int, Field(ge=1, le=24 * 365)] = 72
    # Open SSE streams per user, across every instance; the next one is answered 429.
    sse_max_streams_per_user: Annotated[int, Field(ge=1, le=1000)] = 5
    # A stream sends a comment line after this many quiet seconds, so proxies keep it open.
    sse_keepalive_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0

    # Reminders that fire (docs/events.md): a reminder instant missed while every instance
    # was down, or already past when it was set, is still emitted if it is less than this
    # late, and skipped otherwise.
    reminder_grace_minutes: Annotated[int, Field(ge=0, le=28 * 24 * 60)] = 60
    # How often each process looks for reminders that are due (one process fires each one,
    # coordinated through PostgreSQL). 0: never, in this process.
    reminder_poll_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    # Webhooks (docs/events.md). Endpoint URLs must be https unless this is set (development).
    webhook_allow_http: bool = False
    # Endpoint hosts must resolve to public addresses only, at registration and at every
    # delivery, unless this is set (development and tests: a receiver on this machine).
    webhook_allow_private: bool = False
    # How often each process looks for due deliveries when it has none in flight.
    # 0: this process delivers nothing (other instances do).
    webhook_poll_seconds: Annotated[float, Field(ge=0, le=3600)] = 1.0
    # Deliveries one process makes at once (each to a different endpoint).
    webhook_concurrency: Annotated[int, Field(ge=1, le=1000)] = 8
    # A claimed endpoint is left to other instances if its deliverer has not recorded the
    # outcome by then (it died). Keep it above the 10 s delivery timeout.
    webhook_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # An endpoint whose deliveries have failed without a success for this long is disabled.
    webhook_disable_after_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0

    # The MCP server at /mcp, for AI assistants (see app/mcp).
    mcp_enabled: bool = True
    # The MCP endpoint's resource identifier (RFC 9728/8707), e.g. https://api.example.com: in
    # JWKS mode a token for /mcp must carry it as its audience, so it must be set there.
    # Unset in shared-secret mode: the base URL each request arrived at.
    mcp_resource_url: str | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return _checked_origins(origins)

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError as exc:
                raise ConfigurationError(
                    f"RATE_LIMIT={value!r} is not a rate limit such as 600/minute or "
                    "20/second;600/minute"
                ) from exc
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_url_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mcp_resource_url", mode="before")
    @classmethod
    def _empty_resource_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_jwks_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = value.replace(" ", ",").split(",")
            return tuple(name.strip() for name in names if name.strip())
        return value

    @model_validator(mode="after")
    def _check_token_verification(self) -> "Settings":
        if self.jwt_jwks_url is None:
            self.jwt_algorithms = _shared_secret_algorithms(self.jwt_algorithms)
        else:
            _check_jwks_url(self.jwt_jwks_url)
            if not self.jwt_issuer or not self.jwt_audience:
                raise ConfigurationError(
                    "JWT_JWKS_URL is set, so JWT_ISSUER and JWT_AUDIENCE must be set too "
                    "(otherwise a token the same provider issued for another application would be "
                    "accepted). "
                    "For Better Auth both are the app's base URL, e.g. https://app.example.com."
                )
            self.jwt_algorithms = _jwks_algorithms(self.jwt_algorithms)
        return self

    @model_validator(mode="after")
    def _check_mcp_resource(self) -> "Settings":
        if self.mcp_resource_url is not None:
            self.mcp_resource_url = _checked_resource_url(self.mcp_resource_url)
        elif self.mcp_enabled and self.uses_jwks:
            raise ConfigurationError(
                "JWT_JWKS_URL is set and MCP is enabled, so MCP_RESOURCE_URL must be set: the "
                "audience tokens for /mcp are issued to (this API's public base URL, e.g. "
                "https://api.example.com). Or set MCP_ENABLED=false."
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.app_env is not Environment.PRODUCTION:
            return self
        problems = []
        if not self.database_url:
            problems.append(
                "DATABASE_URL must be set (the embedded database is for development only)"
            )
        # In JWKS mode the provider's public keys verify tokens: there is no secret to protect.
        if not self.uses_jwks and (
            not self.jwt_secret or len(self.jwt_secret.encode()) < MIN_PRODUCTION_SECRET_BYTES
        ):
            problems.append(
                f"JWT_SECRET (or BETTER_AUTH_SECRET) must be at least "
                f"{MIN_PRODUCTION_SECRET_BYTES} bytes; generate one with `openssl rand -base64 32`"
            )
        if problems:
            raise ConfigurationError("APP_ENV=production refuses to start: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env is Environment.PRODUCTION

    @property
    def uses_jwks(self) -> bool:
        return self.jwt_jwks_url is not None

    def signing_secret(self) -> str:
        """The HS256 secret: the configured one, else a development secret kept under DATA_DIR."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.is_production:  # unreachable after validation; kept as a guard
            raise ConfigurationError("JWT_SECRET is required in production")
        return _development_secret(self.data_dir)


def _shared_secret_algorithms(given: tuple[str, ...]) -> tuple[str, ...]:
    if given and tuple(name.upper() for name in given) != SHARED_SECRET_ALGORITHMS:
        raise ConfigurationError(
            f"JWT_ALGORITHMS={','.join(given)} is not allowed in shared-secret mode: "
            "only HS256 is. "
            f"To verify {', '.join(JWKS_DEFAULT_ALGORITHMS)} tokens, set JWT_JWKS_URL to your "
            "identity provider's JWKS URL."
        )
    return SHARED_SECRET_ALGORITHMS


def _jwks_algorithms(given: tuple[str, ...]) -> tuple[str, ...]:
    if not given:
        return JWKS_DEFAULT_ALGORITHMS
    canonical = {name.upper(): name for name in JWKS_SUPPORTED_ALGORITHMS}
    chosen = []
    for name in given:
        if name.upper().startswith("HS"):
            raise ConfigurationError(
                f"JWT_ALGORITHMS must not contain {name} when JWT_JWKS_URL is set: an HMAC "
                "algorithm next to public keys lets anyone forge tokens by signing with the public "
                "key (algorithm confusion). Leave JWT_ALGORITHMS unset for "
                f"{','.join(JWKS_DEFAULT_ALGORITHMS)}."
            )
        if name.upper() not in canonical:
            raise ConfigurationError(
                f"JWT_ALGORITHMS contains {name!r}, which is not a supported public-key "
                f"algorithm; choose from {','.join(JWKS_SUPPORTED_ALGORITHMS)}."
            )
        chosen.append(canonical[name.upper()])
    return tuple(dict.fromkeys(chosen))


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"JWT_JWKS_URL={url!r} is not an http(s) URL; for Better Auth it is "
            "<base URL>/api/auth/jwks, e.g. https://app.example.com/api/auth/jwks."
        )


def _checked_resource_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(
            f"MCP_RESOURCE_URL={url!r} is not an http(s) URL without query or fragment, such as "
            "https://api.example.com"
        )
    # Kept as given: a token's audience must equal it character for character.
    return url


def _development_secret(data_dir: Path) -> str:
    """Generated once and reused, so tokens from `make token` keep working across restarts."""
    path = data_dir / "dev-jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
            path.chmod(0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
    return path.read_text(encoding="utf-8").strip()


def _checked_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """Origins as browsers send them: scheme://host[:port], no path, no trailing slash."""
    if "*" in origins:
        if len(origins) > 1:
            raise ConfigurationError(
                'CORS_ORIGINS: "*" allows any origin and cannot be combined with other origins'
            )
        return origins
    checked = []
    for origin in origins:
        origin = origin.rstrip("/")
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ConfigurationError(
                f"CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com"
            )
        checked.append(origin)
    return tuple(checked)


@lru_cache
def get_settings() -> Settings:
    return Settings()


# `async` for the reason given at app.core.database.get_database: no thread hop per request.
async def app_settings(request: Request) -> Settings:
    """The settings the running application was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
