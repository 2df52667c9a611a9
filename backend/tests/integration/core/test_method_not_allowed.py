"""A 405 names, in `Allow`, every method the path supports."""

import httpx
import pytest

pytestmark = pytest.mark.anyio

TASK = "/api/v1/alice/tasks/00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/v1/alice/tasks", "GET, POST"),
        ("PUT", "/api/v1/alice/tasks", "GET, POST"),
        ("POST", TASK, "DELETE, GET, PATCH, PUT"),
        ("GET", f"{TASK}/complete", "PATCH"),
        ("DELETE", "/healthz", "GET"),
        # Fixed paths that the /tasks/{task_id} routes would otherwise take for an id.
        ("PUT", "/api/v1/alice/tasks/trash", "GET"),
        ("DELETE", "/api/v1/alice/tasks/trash", "GET"),
        ("PATCH", "/api/v1/alice/tasks/changes", "GET"),
        ("POST", "/api/v1/alice/tasks/changes", "GET"),
        ("GET", f"/api/v1/alice/tasks/trash/{TASK.rsplit('/', 1)[1]}", "DELETE"),
        ("PUT", "/api/v1/alice/export", "GET"),
        ("GET", "/api/v1/alice", "DELETE"),
        ("PUT", "/api/v1/alice/tasks/batch", "POST"),
        ("GET", "/api/v1/alice/tasks/batch", "POST"),
    ],
)
async def test_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["code"] == "method_not_allowed"
