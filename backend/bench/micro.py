"""In-process micro-benchmark: the product's CPU time per request on the task routes, beside
the raw-driver ceiling's (bench/ceiling_app.py) measured in the same run.

Drives each ASGI app directly (no server, no sockets, no load generator) with sequential list,
get and create requests against a real PostgreSQL, and reports the process's CPU time per
request, best of several rounds (the two apps' rounds alternate). It measures what the
framework, middlewares, dependencies, driver and JSON cost in the app's own process, so a
change to any of them can be compared before and after in seconds, on a busy machine too (CPU
time, not wall time; the ratio to the ceiling, measured alongside, moves less than either).

    make bench-micro
    make bench-micro MICRO_ARGS="--requests 5000 --rounds 7"
    MICRO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench-micro

It uses a database of its own (`todo_micro`) on MICRO_DATABASE_URL's server, or on an
embedded PostgreSQL under `backend/.data/bench` without it.
"""

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import orjson

from app.core import migrate
from app.core.config import Settings
from app.core.database import parse_database_url
from app.main import create_app
from bench.ceiling_app import CeilingApp
from bench.database import server_url, with_database

DATABASE = "todo_micro"
USER = "micro-user"
SEED_TASKS = 50
DATA_DIR = Path(__file__).resolve().parent.parent / ".data" / "bench"

Message = dict[str, Any]
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def prepare_database(server: str) -> str:
    admin = await asyncpg.connect(parse_database_url(server).dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = with_database(server, DATABASE)
    await asyncio.to_thread(migrate.upgrade, url)
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        # TRUNCATE, not DELETE: no dead rows left by earlier runs to slow this one down.
        await conn.execute("TRUNCATE tasks, users CASCADE")
    finally:
        await conn.close()
    return url


class Caller:
    """Calls the ASGI app as a server would, one request at a time."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self.headers = [
            (b"host", b"micro"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"accept", b"application/json"),
        ]

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = list(self.headers)
        if body:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(body)).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # a client that never disconnects
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def run(requests: int, rounds: int) -> None:
    server = server_url(os.environ.get("MICRO_DATABASE_URL"), DATA_DIR)
    url = await prepare_database(server)
    secret = secrets.token_urlsafe(48)
    settings = Settings(_env_file=None, app_env="production", database_url=url, jwt_secret=secret)
    app = create_app(settings)
    now = int(time.time())
    token = jwt.encode({"sub": USER, "iat": now, "exp": now + 3600}, secret, algorithm="HS256")
    # The ceiling reads its configuration from the environment, as when it is served.
    os.environ.update({"DATABASE_URL": url, "JWT_SECRET": secret})
    ceiling = CeilingApp()
    callers = {"product": Caller(app, token), "ceiling": Caller(ceiling, token)}
    async with app.router.lifespan_context(app), served(ceiling):
        await measure(callers, requests, rounds)


@contextlib.asynccontextmanager
async def served(app: App) -> AsyncIterator[None]:
    """Runs a bare ASGI app's lifespan (start-up before, shut-down after)."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await outbox.put(message)

    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


Request = Callable[[int], Awaitable[tuple[int, bytes]]]


async def measure(callers: dict[str, Caller], requests: int, rounds: int) -> None:
    base = f"/api/v1/{USER}/tasks"
    product = callers["product"]
    ids = []
    for n in range(SEED_TASKS):
        status, body = await product.call("POST", base, orjson.dumps({"title": f"task {n}"}))
        assert status == 201, (status, body)
        ids.append(orjson.loads(body)["id"])

    def kinds(caller: Caller) -> dict[str, Request]:
        return {
            "list": lambda n: caller.call("GET", base),
            "get": lambda n: caller.call("GET", f"{base}/{ids[n % len(ids)]}"),
            "create": lambda n: caller.call("POST", base, b'{"title": "micro"}'),
        }

    expected = {"list": 200, "get": 200, "create": 201}
    requests_of = {app: kinds(caller) for app, caller in callers.items()}
    # Warm-up: FastAPI analyses routes, asyncpg prepares statements on first use.
    for app_requests in requests_of.values():
        for kind, request in app_requests.items():
            for n in range(200):
                status, body = await request(n)
                assert status == expected[kind], (kind, status, body)
    print(f"{requests} sequential requests per kind, app and round, {rounds} rounds")
    print(
        f"{'kind':<8}{'best µs CPU':>14}{'median':>10}{'best µs wall':>15}"
        f"{'ceiling best':>15}{'ratio':>8}"
    )
    for kind in expected:
        cpu: dict[str, list[float]] = {app: [] for app in callers}
        wall: dict[str, list[float]] = {app: [] for app in callers}
        for _ in range(rounds):
            for app, app_requests in requests_of.items():
                request = app_requests[kind]
                c0, w0 = time.process_time(), time.perf_counter()
                for n in range(requests):
                    status, _ = await request(n)
                    if status != expected[kind]:
                        raise SystemExit(f"{app} {kind}: unexpected status {status}")
                cpu[app].append((time.process_time() - c0) / requests * 1e6)
                wall[app].append((time.perf_counter() - w0) / requests * 1e6)
        best, ceiling = min(cpu["product"]), min(cpu["ceiling"])
        print(
            f"{kind:<8}{best:>14.0f}{statistics.median(cpu['product']):>10.0f}"
            f"{min(wall['product']):>15.0f}{ceiling:>15.0f}{best / ceiling:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The request log's lines (on stderr) go to /dev/null: their cost is measured, not the
    # terminal's.
    with open(os.devnull, "w") as log_sink, contextlib.redirect_stderr(log_sink):
        asyncio.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
