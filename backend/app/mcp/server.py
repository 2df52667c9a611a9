"""The MCP server at /mcp: the official SDK's low-level server behind its Streamable HTTP
session manager, stateless (any instance answers any request) and answering in JSON.

Tools are listed and run from app.mcp.tools; who calls is settled before the SDK sees the
request (app.mcp.auth), and reaches the handlers through the request's state.
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from prometheus_client import Counter
from starlette.requests import Request

from app.core.body_limit import MAX_BODY_BYTES
from app.core.metrics import Metrics
from app.mcp import tools
from app.mcp.auth import CALLER_STATE_KEY
from app.mcp.caller import Caller

logger = logging.getLogger("app.mcp")

SERVER_NAME = "todo-api"
INSTRUCTIONS = (
    "Manage the signed-in user's to-do list: list, read, create, change, complete, delete "
    "(to the trash) and restore tasks. Every tool acts for the user the access token belongs "
    "to. Errors carry a `code` (e.g. task_not_found, validation_error) and a `detail`."
)
# The JSON-RPC error code the MCP specification gives an unknown resource.
RESOURCE_NOT_FOUND = -32002
# Tool names that are not ours are counted under this one, so they cannot create series.
UNKNOWN_TOOL = "unknown"


class ToolCallMetrics:
    """`mcp_tool_calls{tool, outcome}`: outcome is `ok` or the error's code."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._counter: Counter | None = None
        if metrics is not None:
            self._counter = metrics.counter(
                "mcp_tool_calls",
                "MCP tool calls, by tool and outcome (ok, or the error code).",
                ("tool", "outcome"),
            )

    def count(self, tool: str, outcome: str) -> None:
        if self._counter is not None:
            self._counter.labels(tool, outcome).inc()


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    caller = None
    if isinstance(request, Request):
        caller = getattr(request.state, CALLER_STATE_KEY, None)
    if not isinstance(caller, Caller):  # the gate always sets it; never act for no one
        raise RuntimeError("MCP request without an authenticated caller")
    return caller


def build_server(tool_metrics: ToolCallMetrics) -> Server[Any]:
    definitions = [spec.definition() for spec in tools.TOOLS.values()]

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=definitions)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = _caller(ctx)
        spec = tools.TOOLS.get(params.name)
        started = time.perf_counter()
        if spec is None:
            error = tools.ToolError("unknown_tool", f"There is no tool named {params.name!r}.")
            return _finish(UNKNOWN_TOOL, caller, started, error=error)
        try:
            outcome = await tools.call(spec, caller, params.arguments)
        except tools.ToolError as error:
            return _finish(spec.name, caller, started, error=error)
        return _finish(spec.name, caller, started, outcome=outcome)

    def _finish(
        name: str,
        caller: Caller,
        started: float,
        *,
        outcome: tools.Outcome | None = None,
        error: tools.ToolError | None = None,
    ) -> types.CallToolResult:
        label = "ok" if error is None else error.code
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        tool_metrics.count(name, label)
        logger.info(
            "tool %s %s %.2fms",
            name,
            label,
            duration_ms,
            extra={
                "tool": name,
                "outcome": label,
                "duration_ms": duration_ms,
                "user_id": caller.user_id,
            },
        )
        if error is not None:
            return types.CallToolResult(
                content=[types.TextContent(text=tools.error_summary(error))],
                structured_content={"code": error.code, "detail": error.detail},
                is_error=True,
            )
        assert outcome is not None
        return types.CallToolResult(
            content=[types.TextContent(text=outcome.summary)],
            structured_content=outcome.structured,
        )

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=uri, name=name, description=description, mime_type="application/json"
                )
                for uri, (name, description) in tools.RESOURCES.items()
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = _caller(ctx)
        query = tools.resource_query(params.uri, datetime.now(UTC))
        if query is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {params.uri}")
        text = await tools.read_resource(caller, query)
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=params.uri, mime_type="application/json", text=text)
            ]
        )

    server: Server[Any] = Server(
        SERVER_NAME,
        version="1.0.0",
        title="Todo API",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
    return server


def session_manager(metrics: Metrics | None) -> StreamableHTTPSessionManager:
    """The SDK's Streamable HTTP session manager around the server (to be run once)."""
    return StreamableHTTPSessionManager(
        app=build_server(ToolCallMetrics(metrics)),
        json_response=True,
        stateless=True,
        # The app's own limit answers first; this one is the SDK's backstop.
        max_request_body_size=MAX_BODY_BYTES + 1,
    )
