"""/mcp as an OAuth 2.1 resource server (the MCP authorization specification).

Every request is settled here before the SDK reads it, with the REST API's own steps and in
the same order (app.auth.dependencies.current_user_id): the token (401, or 503 when a JWKS
provider cannot be reached), the caller named in the request log, their rate limit (429),
then their user row. A 401 also names the protected resource metadata document (RFC 9728),
which tells a client where to get a token.
"""

from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import verified_claims
from app.auth.tokens import TokenVerifier
from app.auth.verifiers import verifier_for_audience
from app.core.config import Settings
from app.core.database import Database
from app.core.errors import ApiError, error_response
from app.core.rate_limit import enforce_rate_limit
from app.core.request_log import record_caller
from app.mcp.caller import Caller
from app.users.service import ensure_user

# Where the gate leaves the caller for the tool handlers (in the request's state).
CALLER_STATE_KEY = "mcp_caller"
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
RESOURCE_NAME = "Todo API (MCP)"


def token_verifier_for_mcp(app: FastAPI, settings: Settings) -> TokenVerifier:
    """The REST verifier, except in JWKS mode, where a token for /mcp must have been issued
    to MCP_RESOURCE_URL (audience binding): the same checks and keys, with that audience."""
    verifier: TokenVerifier = app.state.token_verifier
    resource = settings.mcp_resource_url
    if not settings.uses_jwks or resource is None or resource == settings.jwt_audience:
        return verifier
    return verifier_for_audience(verifier, settings, resource)


def resource_url(settings: Settings, request: Request) -> str:
    """MCP_RESOURCE_URL, else the base URL the request arrived at."""
    return settings.mcp_resource_url or str(request.base_url).rstrip("/")


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known path goes between the resource's host and its path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PATH}{parts.path.rstrip('/')}"


def metadata_paths(settings: Settings) -> list[str]:
    """The well-known path, and the one for MCP_RESOURCE_URL when it has a path of its own."""
    paths = [WELL_KNOWN_PATH]
    if settings.mcp_resource_url is not None:
        path = urlsplit(metadata_url(settings.mcp_resource_url)).path
        if path != WELL_KNOWN_PATH:
            paths.append(path)
    return paths


async def protected_resource_metadata(request: Request) -> Response:
    """RFC 9728 Protected Resource Metadata: which resource this is, and who issues tokens
    for it (JWT_ISSUER). No scopes are defined: a token grants its subject's own tasks."""
    settings: Settings = request.app.state.settings
    document: dict[str, object] = {"resource": resource_url(settings, request)}
    if settings.jwt_issuer:
        document["authorization_servers"] = [settings.jwt_issuer]
    document["bearer_methods_supported"] = ["header"]
    document["resource_name"] = RESOURCE_NAME
    return JSONResponse(document)


def _challenge(exc: ApiError, resource: str) -> dict[str, str]:
    headers = dict(exc.headers)
    base = headers.get("WWW-Authenticate", "Bearer")
    separator = " " if base == "Bearer" else ", "
    headers["WWW-Authenticate"] = f'{base}{separator}resource_metadata="{metadata_url(resource)}"'
    return headers


class SessionHandler(Protocol):
    def handle_request(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]: ...


class McpGate:
    """The ASGI app at /mcp: authenticates, then hands the request to the SDK."""

    def __init__(self, sessions: SessionHandler, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        # Set when the app starts (see app.mcp.mount).
        self.verifier: TokenVerifier | None = None
        # The route serving this gate: FastAPI records only its own routes in the scope, and
        # the request log and metrics name requests by it (/mcp, not "unmatched").
        self.route: BaseRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.route is not None:
            scope["route"] = self.route
        request = Request(scope, receive)
        try:
            caller = await self._authenticate(request)
        except ApiError as exc:
            headers = exc.headers
            if exc.status_code == 401:
                headers = _challenge(exc, resource_url(self.settings, request))
            response = error_response(exc.status_code, exc.code, exc.detail, headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER_STATE_KEY] = caller
        await self.sessions.handle_request(scope, receive, send)

    async def _authenticate(self, request: Request) -> Caller:
        if self.verifier is None:
            raise ApiError(503, "service_unavailable", "The server is starting; retry shortly.")
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        credentials = (
            HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
            if scheme.lower() == "bearer" and token
            else None
        )
        claims = await verified_claims(self.verifier, credentials)
        record_caller(request, claims.sub)
        await enforce_rate_limit(request, claims.sub)
        database: Database = request.app.state.database
        await ensure_user(database, claims.sub, claims.email)
        return Caller(user_id=claims.sub, database=database, settings=self.settings)
