"""Prometheus metrics at /metrics: requests by route template and status, and pool usage."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from tests.conftest import auth
from tests.integration.core.running_app import running_app

pytestmark = pytest.mark.anyio

BACKEND_DIR = Path(__file__).resolve().parents[3]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/api/v1/alice/tasks", headers=auth())).status_code == 200
    assert (await client.get("/api/v1/alice/tasks")).status_code == 401
    missing = "/api/v1/alice/tasks/00000000-0000-0000-0000-000000000000"
    assert (await client.get(missing, headers=auth())).status_code == 404
    after = await scrape(client)

    listing = {"method": "GET", "route": "/api/v1/{user_id}/tasks"}
    assert (
        value(after, "http_requests_total", **listing, status="200")
        - value(before, "http_requests_total", **listing, status="200")
        == 3
    )
    assert value(after, "http_requests_total", **listing, status="401") == 1
    one = {"method": "GET", "route": "/api/v1/{user_id}/tasks/{task_id}", "status": "404"}
    assert value(after, "http_requests_total", **one) == 1
    assert value(after, "http_request_duration_seconds_count", **listing, status="200") == 3
    assert (
        value(after, "http_request_duration_seconds_bucket", **listing, status="200", le="+Inf")
        == 3
    )
    # Route templates only: no user id or task id becomes a label.
    assert "alice" not in after
    assert "00000000-0000" not in after


async def test_unmatched_paths_and_invented_methods_share_one_series(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/a", "/b/c", "/api/v1/alice/nothing"):
        assert (await client.get(path)).status_code == 404
    assert (await client.request("BREW", "/healthz")).status_code == 405
    text = await scrape(client)
    assert value(text, "http_requests_total", method="GET", route="unmatched", status="404") == 3
    assert value(text, "http_requests_total", method="other", route="/healthz", status="405") == 1
    assert "BREW" not in text


async def test_pool_usage_gauges(settings: Settings) -> None:
    async with running_app(settings, db_pool_max_size=4) as run:
        await run.client.get("/api/v1/alice/tasks", headers=auth())  # opens a connection
        pool = run.app.state.database.pool
        async with pool.acquire(), pool.acquire():
            held = await scrape(run.client)
        released = await scrape(run.client)
    assert value(held, "db_pool_max_size") == 4
    assert value(held, "db_pool_in_use") == 2
    assert value(held, "db_pool_size") == value(held, "db_pool_in_use") + value(
        held, "db_pool_idle"
    )
    assert value(released, "db_pool_in_use") == 0
    assert value(released, "db_pool_idle") == value(released, "db_pool_size") >= 2


async def test_metrics_need_no_token_and_are_not_in_the_api_schema(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_metrics_can_be_turned_off(settings: Settings) -> None:
    async with running_app(settings, metrics_enabled=False) as run:
        assert (await run.client.get("/metrics")).status_code == 404


MULTIPROCESS_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    from app.core.config import Settings
    from app.main import create_app

    async def main() -> None:
        settings = Settings(_env_file=None, app_env="test", database_url=sys.argv[1],
                            jwt_secret="unused-" + "x" * 40)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
                for _ in range(int(sys.argv[2])):
                    await client.get("/healthz")
                if sys.argv[3] == "scrape":
                    print((await client.get("/metrics")).text)

    asyncio.run(main())
    """
)


def test_workers_sharing_a_multiprocess_directory_report_their_sum(
    tmp_path: Path, database_url: str
) -> None:
    """Each process stands for one uvicorn worker: the scrape answered by the second one
    includes the requests the first served."""
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(requests: int, then: str) -> str:
        done = subprocess.run(  # noqa: S603 (this interpreter, this file's own script)
            [sys.executable, "-c", MULTIPROCESS_WORKER, database_url, str(requests), then],
            cwd=BACKEND_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    worker(2, "exit")
    text = worker(3, "scrape")
    assert value(text, "http_requests_total", method="GET", route="/healthz", status="200") == 5
