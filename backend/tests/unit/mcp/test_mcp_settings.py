"""Which MCP configurations start, and where the protected resource metadata lives."""

from typing import Any

import pytest

from app.core.config import ConfigurationError, Settings
from app.mcp.auth import metadata_paths, metadata_url

JWKS = {
    "jwt_jwks_url": "https://app.example.com/api/auth/jwks",
    "jwt_issuer": "https://app.example.com",
    "jwt_audience": "https://app.example.com",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MCP_ENABLED", "MCP_RESOURCE_URL", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_mcp_is_on_by_default_and_needs_no_resource_url_with_a_shared_secret() -> None:
    configured = settings()
    assert configured.mcp_enabled
    assert configured.mcp_resource_url is None


def test_jwks_mode_refuses_to_start_mcp_without_its_resource_url() -> None:
    with pytest.raises(ConfigurationError, match="MCP_RESOURCE_URL must be set"):
        settings(**JWKS)


def test_jwks_mode_starts_with_a_resource_url_or_with_mcp_off() -> None:
    assert settings(**JWKS, mcp_resource_url="https://api.example.com").uses_jwks
    assert not settings(**JWKS, mcp_enabled=False).mcp_enabled
    assert settings(**JWKS, mcp_enabled=False, mcp_resource_url="").mcp_resource_url is None


@pytest.mark.parametrize(
    "url", ["api.example.com", "ftp://api.example.com", "https://", "https://a.example/?x=1"]
)
def test_a_resource_url_must_be_an_http_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="MCP_RESOURCE_URL"):
        settings(mcp_resource_url=url)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource"),
        (
            "https://api.example.com/",
            "https://api.example.com/.well-known/oauth-protected-resource",
        ),
        (
            "https://example.com/todo/mcp",
            "https://example.com/.well-known/oauth-protected-resource/todo/mcp",
        ),
    ],
)
def test_the_metadata_url_puts_the_well_known_part_before_the_path(
    resource: str, expected: str
) -> None:
    assert metadata_url(resource) == expected


def test_the_metadata_is_served_at_the_well_known_path_and_the_resources_own() -> None:
    well_known = "/.well-known/oauth-protected-resource"
    assert metadata_paths(settings()) == [well_known]
    assert metadata_paths(settings(mcp_resource_url="https://api.example.com")) == [well_known]
    assert metadata_paths(settings(mcp_resource_url="https://example.com/todo")) == [
        well_known,
        f"{well_known}/todo",
    ]
