"""Liveness touches nothing; readiness answers 503 when the database does not answer."""

import httpx
import pytest

from tests.conftest import ClientFactory

pytestmark = pytest.mark.anyio

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1"


async def test_healthz_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_without_a_database_healthz_is_200_and_readyz_503(
    client_with: ClientFactory,
) -> None:
    async with client_with(database_url=UNREACHABLE, db_pool_timeout_seconds=0.3) as http:
        assert (await http.get("/healthz")).status_code == 200
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert isinstance(response.json()["detail"], str)
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text


async def test_health_routes_need_no_token(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await client.get(path, headers={"Authorization": "Bearer junk"})
        assert response.status_code == 200
