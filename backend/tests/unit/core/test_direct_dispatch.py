"""`DirectDispatch` serves a directly resolved route only where FastAPI's router would have
chosen that route, hands everything else (and every declined request, body included) to the
router, and answers a resolver's exceptions with the app's own handlers."""

from typing import Annotated

import anyio
import httpx
import pytest
from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.core.direct_routes import DirectDispatch, Endpoint, resolved_directly

pytestmark = pytest.mark.anyio

DIRECT = {"served-by": "direct"}


async def item_directly(request: Request, endpoint: Endpoint) -> Response | None:
    item_id: str = request.path_params["item_id"]
    if item_id == "declined":
        await request.body()  # read, then left to the router, which must still get it
        return None
    if item_id == "missing":
        raise HTTPException(404, "no such item")
    response = await endpoint(item_id, (await request.body()).decode() or None)
    response.headers.update(DIRECT)
    return response


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail}, exc.status_code)

    @app.get("/items/special")
    async def special() -> Response:
        return PlainTextResponse("special")

    @app.post("/items/{item_id}")
    async def post_item(item_id: str) -> Response:
        return PlainTextResponse(f"posted {item_id}")

    @app.api_route("/items/{item_id}", methods=["GET", "PUT"])
    @resolved_directly(item_directly)
    async def item(item_id: str, body: Annotated[str | None, Body()] = None) -> Response:
        return PlainTextResponse(f"item {item_id} {body}")

    app.add_middleware(DirectDispatch, router=app.router, exception_handlers=app.exception_handlers)
    return app


async def call(
    app: FastAPI, method: str, path: str, content: str | None = None, root_path: str = ""
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, content=content, headers=headers)


async def test_a_directly_resolved_route_is_served_by_its_resolver(app: FastAPI) -> None:
    response = await call(app, "GET", "/items/7")
    assert (response.status_code, response.text) == (200, "item 7 None")
    assert response.headers["served-by"] == "direct"


async def test_an_earlier_route_that_matches_is_left_to_the_router(app: FastAPI) -> None:
    response = await call(app, "GET", "/items/special")
    assert (response.text, "served-by" in response.headers) == ("special", False)


async def test_an_earlier_route_of_another_method_does_not_hide_a_later_one(
    app: FastAPI,
) -> None:
    posted = await call(app, "POST", "/items/7")
    assert (posted.text, "served-by" in posted.headers) == ("posted 7", False)
    put = await call(app, "PUT", "/items/7", content='"new"')
    assert (put.text, put.headers["served-by"]) == ('item 7 "new"', "direct")


async def test_a_method_no_route_has_is_left_to_the_router(app: FastAPI) -> None:
    response = await call(app, "DELETE", "/items/7")
    assert response.status_code == 405


async def test_a_declined_request_reaches_the_router_with_its_body(app: FastAPI) -> None:
    with anyio.fail_after(5):  # without its body, the router would wait for it forever
        response = await call(app, "PUT", "/items/declined", content='"kept"')
    assert (response.text, "served-by" in response.headers) == ("item declined kept", False)


async def test_a_resolver_error_is_answered_by_the_apps_handler(app: FastAPI) -> None:
    response = await call(app, "GET", "/items/missing")
    assert (response.status_code, response.json()) == (404, {"error": "no such item"})


async def test_under_a_root_path_the_router_serves_every_request(app: FastAPI) -> None:
    # The router matches the path without its root path: here `/7`, which no route has.
    response = await call(app, "GET", "/items/7", root_path="/items")
    assert (response.status_code, "served-by" in response.headers) == (404, False)
