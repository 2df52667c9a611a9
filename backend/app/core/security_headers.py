"""Standard security headers on every response, computed once when the app is built.

API responses are JSON that no browser should render, frame or sniff, so their
Content-Security-Policy allows nothing. The interactive docs (/docs, /redoc) are HTML pages
that FastAPI builds from scripts and styles on a CDN plus one inline script; they get a policy
that allows exactly those sources.
"""

from collections.abc import Iterable

Header = tuple[bytes, bytes]
NO_STORE: Header = (b"cache-control", b"no-store")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The sources FastAPI's get_swagger_ui_html / get_redoc_html load (fastapi.openapi.docs).
DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "connect-src 'self'",
        "worker-src blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def _headers(csp: str, hsts_max_age_seconds: int) -> list[Header]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", csp.encode()),
    ]
    if hsts_max_age_seconds:
        value = f"max-age={hsts_max_age_seconds}; includeSubDomains"
        headers.append((b"strict-transport-security", value.encode()))
    return headers


class SecurityHeaders:
    """The headers for one app, computed once. `Cache-Control: no-store` is added too when the
    request carried credentials and the route did not choose its own caching, so that no
    shared or browser cache keeps one user's tasks."""

    def __init__(
        self, hsts_max_age_seconds: int = 0, docs_paths: Iterable[str] = DOCS_PATHS
    ) -> None:
        self.api_headers = _headers(API_CSP, hsts_max_age_seconds)
        self.docs_headers = _headers(DOCS_CSP, hsts_max_age_seconds)
        self.docs_paths = frozenset(docs_paths)

    def added_to(self, path: str, credentialed: bool, headers: Iterable[Header]) -> list[Header]:
        """A response's headers (those of the route, then ours)."""
        added = self.docs_headers if path in self.docs_paths else self.api_headers
        result = [*headers, *added]
        if credentialed and not any(name == b"cache-control" for name, _ in result):
            result.append(NO_STORE)
        return result
