"""Settings, read once from the environment (and `backend/.env`)."""

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parents[2]
MIN_PRODUCTION_SECRET_BYTES = 32


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
    # Set to 0 behind PgBouncer in transaction mode (Neon's "-pooler" host).
    db_statement_cache_size: Annotated[int, Field(ge=0)] = 100

    jwt_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("JWT_SECRET", "BETTER_AUTH_SECRET")
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 30

    data_dir: Path = BACKEND_DIR / ".data"
    log_level: str = "info"

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.app_env is not Environment.PRODUCTION:
            return self
        problems = []
        if not self.database_url:
            problems.append(
                "DATABASE_URL must be set (the embedded database is for development only)"
            )
        if not self.jwt_secret or len(self.jwt_secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
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

    def signing_secret(self) -> str:
        """The HS256 secret: the configured one, else a development secret kept under DATA_DIR."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.is_production:  # unreachable after validation; kept as a guard
            raise ConfigurationError("JWT_SECRET is required in production")
        return _development_secret(self.data_dir)


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


@lru_cache
def get_settings() -> Settings:
    return Settings()
