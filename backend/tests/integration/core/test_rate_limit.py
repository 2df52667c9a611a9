"""Per-user rate limiting: in-process counters by default, Redis ones when REDIS_URL is set."""

import secrets
from collections.abc import AsyncIterator
from typing import Any

import coredis
import httpx
import pytest

from app.core.config import Settings
from app.core.rate_limit import UserRateLimiter
from app.users import service as users_service
from tests.conftest import auth
from tests.integration.core.running_app import running_app

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"
STRATEGIES = ["fixed-window", "moving-window", "sliding-window-counter"]
TASKS = "/api/v1/{}/tasks"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other run uses; every key under it is deleted afterwards."""
    prefix = f"todo-test-{secrets.token_hex(6)}"
    yield prefix
    client = coredis.Redis.from_url(REDIS_URL)
    keys: list[str | bytes] = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(keys)


async def redis_keys(prefix: str) -> list[bytes]:
    client = coredis.Redis.from_url(REDIS_URL)
    return [key async for key in client.scan_iter(match=f"{prefix}*")]


async def list_tasks(client: httpx.AsyncClient, user: str = "alice") -> httpx.Response:
    return await client.get(TASKS.format(user), headers=auth(user))


def assert_rate_limited(response: httpx.Response, window_seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert isinstance(response.json()["detail"], str)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_over_the_limit_is_429_with_retry_after(settings: Settings, strategy: str) -> None:
    async with running_app(settings, rate_limit="3/minute", rate_limit_strategy=strategy) as run:
        for _ in range(3):
            assert (await list_tasks(run.client)).status_code == 200
        assert_rate_limited(await list_tasks(run.client), 60)
        # Every route of the caller shares the limit, whatever the method.
        created = await run.client.post(
            TASKS.format("alice"), json={"title": "x"}, headers=auth("alice")
        )
        assert_rate_limited(created, 60)


async def test_the_limit_is_per_user(settings: Settings) -> None:
    async with running_app(settings, rate_limit="2/minute") as run:
        for _ in range(2):
            assert (await list_tasks(run.client, "alice")).status_code == 200
        assert (await list_tasks(run.client, "alice")).status_code == 429
        assert (await list_tasks(run.client, "bob")).status_code == 200


async def test_several_limits_apply_together(settings: Settings) -> None:
    async with running_app(settings, rate_limit="100/minute;2/hour") as run:
        for _ in range(2):
            assert (await list_tasks(run.client)).status_code == 200
        assert_rate_limited(await list_tasks(run.client), 3600)


async def test_the_limit_is_checked_before_any_database_work(settings: Settings) -> None:
    async with running_app(settings, rate_limit="1/minute") as run:
        assert (await list_tasks(run.client)).status_code == 200
        # With the pool closed (and the user no longer known to be provisioned) any database
        # work would fail with a 503; the 429 needs none.
        await run.app.state.database.close()
        users_service._known.clear()
        assert_rate_limited(await list_tasks(run.client), 60)


async def test_requests_without_a_valid_token_are_refused_before_counting(
    settings: Settings,
) -> None:
    async with running_app(settings, rate_limit="1/minute") as run:
        for _ in range(3):
            response = await run.client.get(TASKS.format("alice"))
            assert response.status_code == 401
        assert (await list_tasks(run.client)).status_code == 200


async def test_no_limit_when_rate_limit_is_empty(settings: Settings) -> None:
    async with running_app(settings, rate_limit="") as run:
        assert run.app.state.rate_limiter is None
        for _ in range(30):
            assert (await list_tasks(run.client)).status_code == 200


async def test_in_process_counters_are_not_shared_between_instances(settings: Settings) -> None:
    async with (
        running_app(settings, rate_limit="2/minute") as first,
        running_app(settings, rate_limit="2/minute") as second,
    ):
        for _ in range(2):
            assert (await list_tasks(first.client)).status_code == 200
        assert (await list_tasks(first.client)).status_code == 429
        assert (await list_tasks(second.client)).status_code == 200


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_redis_counters_are_shared_between_instances(
    settings: Settings, redis_prefix: str, strategy: str
) -> None:
    options: dict[str, Any] = {
        "rate_limit": "3/minute",
        "rate_limit_strategy": strategy,
        "redis_url": REDIS_URL,
        "rate_limit_key_prefix": redis_prefix,
    }
    async with (
        running_app(settings, **options) as first,
        running_app(settings, **options) as second,
    ):
        assert (await list_tasks(first.client)).status_code == 200
        assert (await list_tasks(second.client)).status_code == 200
        assert (await list_tasks(first.client)).status_code == 200
        assert_rate_limited(await list_tasks(second.client), 60)
        assert_rate_limited(await list_tasks(first.client), 60)
        assert (await list_tasks(second.client, "bob")).status_code == 200
    assert await redis_keys(redis_prefix), "the counters were not kept in Redis"


async def test_an_unreachable_redis_lets_requests_through(settings: Settings) -> None:
    # Port 1 on the loopback refuses connections at once.
    async with running_app(
        settings, rate_limit="1/minute", redis_url="redis://127.0.0.1:1/0"
    ) as run:
        for _ in range(3):
            assert (await list_tasks(run.client)).status_code == 200


async def test_redis_storage_is_chosen_by_redis_url(settings: Settings) -> None:
    with_redis = settings.model_copy(update={"rate_limit": "1/second", "redis_url": REDIS_URL})
    without = settings.model_copy(update={"rate_limit": "1/second"})
    limiter = UserRateLimiter.from_settings(with_redis)
    assert limiter is not None
    assert type(limiter.storage).__name__ == "RedisStorage"
    limiter = UserRateLimiter.from_settings(without)
    assert limiter is not None
    assert type(limiter.storage).__name__ == "MemoryStorage"


async def test_the_429_is_documented_on_every_task_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    task_operations = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for operation in item.values()
    ]
    assert task_operations
    for operation in task_operations:
        documented = operation["responses"]["429"]
        assert "Retry-After" in documented["headers"]
        assert documented["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert "429" not in schema["paths"]["/healthz"]["get"]["responses"]


def test_an_invalid_rate_limit_is_refused_at_start_up(settings: Settings) -> None:
    with pytest.raises(Exception, match="RATE_LIMIT"):
        Settings(_env_file=None, **{**settings.model_dump(), "rate_limit": "lots"})
