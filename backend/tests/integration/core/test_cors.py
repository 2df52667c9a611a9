"""Cross-origin access from the origins in CORS_ORIGINS only."""

import httpx
import pytest

from app.core.config import ConfigurationError, Settings
from tests.conftest import auth
from tests.integration.core.running_app import running_app

pytestmark = pytest.mark.anyio

FRONT_END = "https://app.example.com"
TASKS = "/api/v1/alice/tasks"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_no_cross_origin_access_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(TASKS, headers=preflight(FRONT_END))
    assert "Access-Control-Allow-Origin" not in response.headers
    simple = await client.get(TASKS, headers={**auth(), "Origin": FRONT_END})
    assert "Access-Control-Allow-Origin" not in simple.headers


async def test_a_configured_origin_may_call_with_credentials(settings: Settings) -> None:
    async with running_app(settings, cors_origins=f"{FRONT_END}/, http://localhost:3000") as run:
        allowed = await run.client.options(TASKS, headers=preflight(FRONT_END))
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == FRONT_END
        assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
        allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed_headers
        assert "content-type" in allowed_headers

        created = await run.client.post(
            TASKS, json={"title": "x"}, headers={**auth(), "Origin": FRONT_END}
        )
        assert created.status_code == 201
        assert created.headers["Access-Control-Allow-Origin"] == FRONT_END
        exposed = {
            h.strip().lower() for h in created.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert {"location", "etag", "x-request-id", "retry-after"} <= exposed


async def test_other_origins_are_refused(settings: Settings) -> None:
    async with running_app(settings, cors_origins=FRONT_END) as run:
        refused = await run.client.options(TASKS, headers=preflight("https://evil.example.net"))
        assert refused.status_code == 400
        assert "Access-Control-Allow-Origin" not in refused.headers
        simple = await run.client.get(
            TASKS, headers={**auth(), "Origin": "https://evil.example.net"}
        )
        assert "Access-Control-Allow-Origin" not in simple.headers


async def test_a_wildcard_never_allows_credentials(settings: Settings) -> None:
    async with running_app(settings, cors_origins="*") as run:
        response = await run.client.options(TASKS, headers=preflight("https://any.example.org"))
        assert response.status_code == 200
        simple = await run.client.get(
            TASKS, headers={**auth(), "Origin": "https://any.example.org"}
        )
    assert simple.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in simple.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    "origins",
    ["*, https://app.example.com", "https://app.example.com/login", "app.example.com", "ftp://x.y"],
)
def test_unusable_origins_are_refused_at_start_up(settings: Settings, origins: str) -> None:
    with pytest.raises(ConfigurationError, match="CORS_ORIGINS"):
        Settings(_env_file=None, **{**settings.model_dump(), "cors_origins": origins})


async def test_a_browser_may_send_and_read_the_retry_headers(settings: Settings) -> None:
    """A browser client sends Idempotency-Key and If-Match, and reads Idempotent-Replayed."""
    async with running_app(settings, cors_origins=FRONT_END) as run:
        allowed = await run.client.options(
            TASKS,
            headers={
                "Origin": FRONT_END,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        assert allowed.status_code == 200, allowed.text
        assert "idempotency-key" in allowed.headers["Access-Control-Allow-Headers"].lower()

        headers = {**auth(), "Origin": FRONT_END, "Idempotency-Key": "cors-1"}
        await run.client.post(TASKS, json={"title": "x"}, headers=headers)
        replayed = await run.client.post(TASKS, json={"title": "x"}, headers=headers)
        assert replayed.headers["Idempotent-Replayed"] == "true"
        exposed = replayed.headers["Access-Control-Expose-Headers"].lower()
        assert "idempotent-replayed" in exposed.replace(" ", "").split(",")
