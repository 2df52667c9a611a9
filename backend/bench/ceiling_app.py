"""The raw-driver ceiling: the same routes, token checks, SQL and JSON as the product, on a
bare ASGI callable with asyncpg and orjson, and no framework, validation or middleware.
The list statement is the product's own (app/tasks/listing.py builds it from the query).

The benchmark serves it exactly like the product (same server, same worker count), so the
ratio product/ceiling shows what the framework and the product's own code cost. It answers
only the requests the benchmark sends; it is not a second implementation of the API.
"""

import os
import uuid
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import jwt
import orjson

from app.core.database import parse_database_url
from app.tasks import service
from app.tasks.fields import PRIORITIES
from app.tasks.listing import DEFAULT_SORT, ListQuery, list_statement

# The product's columns, statements and JSON fields: the ratio then measures the framework
# and the product's own code, not a different query or a smaller answer. The writes keep the
# product's bookkeeping (version, the owner's change counter, the trash and its tombstone).
_COLUMNS = service.COLUMNS
_GET = service.GET_TASK
_CREATE = service.CREATE_TASK
_PATCH_TITLE = service.update_statement(["title = $3"], versions_param=4)
# The benchmark completes with `{"completed": true}`: the product's statement for that, with
# its guard for repeating tasks.
_PATCH_COMPLETED = service.update_statement(
    ["completed = $3", service.completed_at_assignment("$3::boolean")],
    versions_param=4,
    guard=service.update_guard({"completed": True}, {"completed": "$3"}),
)
_TOGGLE = service.SET_COMPLETED
_DELETE = service.TRASH_TASK
_TASK_KEYS = service.PUBLIC_FIELDS

Scope = dict[str, Any]
Response = tuple[int, bytes]


def _dumps(value: Any) -> bytes:
    # asyncpg's UUID type is not one orjson knows natively; str() is its canonical form.
    return orjson.dumps(value, default=str, option=orjson.OPT_UTC_Z)


def _task(row: asyncpg.Record | None) -> dict[str, Any]:
    assert row is not None
    task = {key: row[key] for key in _TASK_KEYS}
    task["priority"] = PRIORITIES[task["priority"]]
    return task


def _list_query(query_string: bytes) -> ListQuery:
    """The list parameters the benchmark sends, read without validation."""
    params = parse_qs(query_string.decode())
    first = {name: values[0] for name, values in params.items()}
    flags = {"true": True, "false": False}
    return ListQuery(
        completed=flags.get(first.get("completed", "")),
        priorities=tuple(first["priority"].split(",")) if "priority" in first else (),
        tags=tuple(params.get("tag", ())),
        overdue=flags.get(first.get("overdue", "")),
        search=first.get("q"),
        sort=first.get("sort", DEFAULT_SORT),  # type: ignore[arg-type]
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    pass


class CeilingApp:
    def __init__(self) -> None:
        self.secret = os.environ["JWT_SECRET"]
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload = await self._handle(scope, body)
        headers = [(b"content-type", b"application/json")]
        if status == 204:
            payload = b""
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def open(self) -> None:
        dsn = parse_database_url(os.environ["DATABASE_URL"]).dsn
        size = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
        # Like the product: no reset round trip when a connection is released.
        self.pool = await asyncpg.create_pool(
            dsn, min_size=size, max_size=size, reset=_keep_session
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def answer(self, scope: Scope, body: bytes) -> Response:
        """The status and JSON body of one request (for the framework floor, bench/floor_app.py)."""
        status, payload = await self._handle(scope, body)
        return status, b"" if status == 204 else payload

    def _subject(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"authorization" and value.startswith(b"Bearer "):
                try:
                    claims = jwt.decode(
                        value[7:].decode(),
                        self.secret,
                        algorithms=["HS256"],
                        leeway=30,
                        options={"require": ["sub", "exp", "iat"]},
                    )
                except jwt.InvalidTokenError:
                    return None
                sub = claims.get("sub")
                return sub if isinstance(sub, str) else None
        return None

    async def _handle(self, scope: Scope, body: bytes) -> Response:
        # /api/v1/{user_id}/tasks[/{task_id}[/complete]]
        parts = scope["path"].split("/")
        if len(parts) < 5 or parts[1:3] != ["api", "v1"] or parts[4] != "tasks":
            return 404, b'{"detail":"Not Found","code":"not_found"}'
        user_id = parts[3]
        subject = self._subject(scope)
        if subject is None:
            return 401, b'{"detail":"Invalid token.","code":"invalid_token"}'
        if subject != user_id:
            return 403, b'{"detail":"Forbidden.","code":"forbidden"}'
        assert self.pool is not None
        method = scope["method"]
        async with self.pool.acquire() as conn:
            if len(parts) == 5:
                if method == "GET":
                    return 200, await self._list(conn, user_id, scope["query_string"])
                data = orjson.loads(body)
                row = await conn.fetchrow(
                    _CREATE,
                    user_id,
                    data["title"].strip(),
                    data.get("description"),
                    data.get("completed", False),
                    0,
                    None,
                    [],
                    None,
                    "UTC",
                    [],
                )
                return 201, _dumps(_task(row))
            task_id = uuid.UUID(parts[5])
            if len(parts) == 7 and method == "PATCH":
                row = await conn.fetchrow(_TOGGLE, task_id, user_id, None, None)
            elif method == "GET":
                row = await conn.fetchrow(_GET, task_id, user_id)
            elif method == "PATCH":
                data = orjson.loads(body)
                if "title" in data:
                    row = await conn.fetchrow(_PATCH_TITLE, task_id, user_id, data["title"], None)
                else:
                    row = await conn.fetchrow(
                        _PATCH_COMPLETED, task_id, user_id, data["completed"], None
                    )
            else:
                trashed = await conn.fetchval(_DELETE, task_id, user_id, None)
                return (204, b"") if trashed == 1 else (404, b'{"code":"not_found"}')
        if row is None:
            return 404, b'{"detail":"Task not found.","code":"task_not_found"}'
        return 200, _dumps(_task(row))

    async def _list(self, conn: Any, user_id: str, query_string: bytes) -> bytes:
        limit, offset = 50, 0
        sql, args = list_statement(
            user_id, _list_query(query_string), columns=_COLUMNS, limit=limit, offset=offset
        )
        rows = await conn.fetch(sql, *args)
        tasks = [_task(row) for row in rows if row["id"] is not None]
        return _dumps({"tasks": tasks, "total": rows[0]["total"], "limit": limit, "offset": offset})


def create_app() -> CeilingApp:
    return CeilingApp()
