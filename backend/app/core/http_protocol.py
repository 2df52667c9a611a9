"""uvicorn's HTTP/1.1 protocol with a deadline for a request's line and headers.

uvicorn closes idle keep-alive connections (HTTP_KEEP_ALIVE_SECONDS) but sets no limit on
how long a client may take to send a request's head: a client that sends half a request
line, or one byte at a time, would hold its connection open for ever (slowloris). Here a
connection that has not delivered a complete request line and headers within
HTTP_HEADER_TIMEOUT_SECONDS of being opened, or of its previous response, is closed.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = get_settings().http_header_timeout_seconds
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on this connection gets the same deadline for its head.
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        serving_a_request = self.cycle is not None and not self.cycle.response_complete
        if not serving_a_request and not self.transport.is_closing():
            self.transport.close()
