"""Which identity configurations start, and the messages of those that refuse to."""

from typing import Any

import pytest

from app.auth import dev_token
from app.core.config import ConfigurationError, Settings, get_settings

JWKS = {
    "jwt_jwks_url": "https://app.example.com/api/auth/jwks",
    "jwt_issuer": "https://app.example.com",
    "jwt_audience": "https://app.example.com",
    "mcp_resource_url": "https://api.example.com",
}
DATABASE_URL = "postgresql://user:pass@db.example.com/todo"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets counts, whatever the shell running the tests exports."""
    for name in ("APP_ENV", "DATABASE_URL", "BETTER_AUTH_SECRET", "JWT_SECRET", "JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    for name in ("JWT_AUDIENCE", "JWT_JWKS_URL", "JWT_ALGORITHMS"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_shared_secret_mode_accepts_hs256_only_by_default() -> None:
    assert settings().jwt_algorithms == ("HS256",)
    assert not settings().uses_jwks


def test_jwks_mode_accepts_eddsa_es256_and_rs256_by_default() -> None:
    configured = settings(**JWKS)
    assert configured.uses_jwks
    assert configured.jwt_algorithms == ("EdDSA", "ES256", "RS256")


def test_algorithms_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in JWKS.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("JWT_ALGORITHMS", " eddsa, ES256 ,PS256")
    monkeypatch.setenv("JWT_JWKS_COOLDOWN_SECONDS", "10")

    configured = settings()

    assert configured.jwt_algorithms == ("EdDSA", "ES256", "PS256")
    assert configured.jwt_jwks_cooldown_seconds == 10


def test_an_empty_jwks_url_means_shared_secret_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_JWKS_URL", "")
    assert not settings().uses_jwks


def test_the_cooldown_defaults_to_30_seconds() -> None:
    assert settings(**JWKS).jwt_jwks_cooldown_seconds == 30


@pytest.mark.parametrize("missing", ["jwt_issuer", "jwt_audience"])
def test_jwks_mode_refuses_to_start_without_issuer_and_audience(missing: str) -> None:
    values = {**JWKS, missing: None}
    with pytest.raises(ConfigurationError, match="JWT_ISSUER and JWT_AUDIENCE must be set"):
        settings(**values)


@pytest.mark.parametrize("algorithms", ["HS256", "EdDSA,HS256", "hs512", "RS256,HS384"])
def test_jwks_mode_refuses_any_hmac_algorithm(algorithms: str) -> None:
    with pytest.raises(ConfigurationError, match="algorithm confusion"):
        settings(**JWKS, jwt_algorithms=algorithms)


@pytest.mark.parametrize("algorithms", ["none", "EdDSA,XS999", "ES256K"])
def test_jwks_mode_refuses_unknown_algorithms(algorithms: str) -> None:
    with pytest.raises(ConfigurationError, match="not a supported public-key algorithm"):
        settings(**JWKS, jwt_algorithms=algorithms)


@pytest.mark.parametrize("algorithms", ["RS256", "EdDSA", "HS256,RS256", "none", "HS512"])
def test_shared_secret_mode_refuses_anything_but_hs256(algorithms: str) -> None:
    with pytest.raises(ConfigurationError, match="only HS256 is"):
        settings(jwt_algorithms=algorithms)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://idp.example.com/jwks", "jwks"])
def test_jwks_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_JWKS_URL"):
        settings(**{**JWKS, "jwt_jwks_url": url})


def test_production_in_jwks_mode_needs_no_secret() -> None:
    configured = settings(**JWKS, app_env="production", database_url=DATABASE_URL)
    assert configured.jwt_secret is None


def test_production_in_shared_secret_mode_still_needs_a_secret() -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        settings(app_env="production", database_url=DATABASE_URL)


def test_make_token_refuses_in_jwks_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in JWKS.items():
        monkeypatch.setenv(name.upper(), value)
    get_settings.cache_clear()
    try:
        assert dev_token.main(["--sub", "alice"]) == 2
    finally:
        get_settings.cache_clear()
    assert "JWT_JWKS_URL" in capsys.readouterr().err
