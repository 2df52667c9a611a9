import httpx
import pytest

from tests.conftest import auth

pytestmark = pytest.mark.anyio


async def test_create_then_list(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/alice/tasks", json={"title": " Buy milk "}, headers=auth())
    assert created.status_code == 201, created.text
    listed = await client.get("/api/v1/alice/tasks", headers=auth())
    assert listed.json()["total"] == 1
    assert listed.json()["tasks"][0]["title"] == "Buy milk"
