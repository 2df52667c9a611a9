"""In-process micro-benchmark: the product's CPU time per request on the task routes.

Drives the ASGI app directly (no server, no sockets, no load generator) with sequential list,
get and create requests against a real PostgreSQL, and reports the process's CPU time per
request, best of several rounds. It measures what the framework, middlewares, dependencies,
driver and JSON cost in the app's own process, so a change to any of them can be compared
before and after in seconds, on a busy machine too (CPU time, not wall time).

    make bench-micro
    make bench-micro MICRO_ARGS="--requests 5000 --rounds 7"
    MICRO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench-micro

It uses a database of its own (`todo_micro`) on MICRO_DATABASE_URL's server, or on an
embedded PostgreSQL under `backend/.data/bench` without it.
"""

import argparse
import asyncio
import logging
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import jwt
import orjson

from app.core import migrate
from app.core.config import Settings
from app.core.database import parse_database_url
from app.main import create_app
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


async def run(requests: int, rounds: int, log_sink: TextIO) -> None:
    server = server_url(os.environ.get("MICRO_DATABASE_URL"), DATA_DIR)
    url = await prepare_database(server)
    secret = secrets.token_urlsafe(48)
    settings = Settings(_env_file=None, app_env="production", database_url=url, jwt_secret=secret)
    app = create_app(settings)
    now = int(time.time())
    token = jwt.encode({"sub": USER, "iat": now, "exp": now + 3600}, secret, algorithm="HS256")
    caller = Caller(app, token)
    # The request log's lines go to /dev/null: their cost is measured, not the terminal's.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_sink)
    async with app.router.lifespan_context(app):
        await measure(caller, requests, rounds)


async def measure(caller: Caller, requests: int, rounds: int) -> None:
    base = f"/api/v1/{USER}/tasks"
    ids = []
    for n in range(SEED_TASKS):
        status, body = await caller.call("POST", base, orjson.dumps({"title": f"task {n}"}))
        assert status == 201, (status, body)
        ids.append(orjson.loads(body)["id"])
    kinds: dict[str, Callable[[int], Awaitable[tuple[int, bytes]]]] = {
        "list": lambda n: caller.call("GET", base),
        "get": lambda n: caller.call("GET", f"{base}/{ids[n % len(ids)]}"),
        "create": lambda n: caller.call("POST", base, b'{"title": "micro"}'),
    }
    expected = {"list": 200, "get": 200, "create": 201}
    # Warm-up: FastAPI analyses routes, asyncpg prepares statements on first use.
    for kind, request in kinds.items():
        for n in range(200):
            status, body = await request(n)
            assert status == expected[kind], (kind, status, body)
    print(f"{requests} sequential requests per kind and round, {rounds} rounds")
    print(f"{'kind':<8}{'best µs CPU':>14}{'median':>10}{'best µs wall':>15}")
    for kind, request in kinds.items():
        cpu, wall = [], []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            for n in range(requests):
                status, _ = await request(n)
                if status != expected[kind]:
                    raise SystemExit(f"{kind}: unexpected status {status}")
            cpu.append((time.process_time() - c0) / requests * 1e6)
            wall.append((time.perf_counter() - w0) / requests * 1e6)
        print(f"{kind:<8}{min(cpu):>14.0f}{statistics.median(cpu):>10.0f}{min(wall):>15.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with open(os.devnull, "w") as log_sink:
        asyncio.run(run(args.requests, args.rounds, log_sink))


if __name__ == "__main__":
    main()
