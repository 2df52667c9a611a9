"""A real HTTP receiver for webhook deliveries: a threaded server on 127.0.0.1 that records
every request and answers as a test tells it to (a status, a redirect, or holding the
request until released)."""

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Bounds that only catch hangs.
HANG_SECONDS = 20.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        # The statuses of the next answers, in order; then 204.
        self.statuses: deque[int] = deque()
        # How many of the next requests are held (unanswered) until `release()`.
        self.holds = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    hold = receiver.holds > 0
                    receiver.holds -= 1 if hold else 0
                    status = receiver.statuses.popleft() if receiver.statuses else 204
                if hold:
                    receiver._released.wait(HANG_SECONDS * 2)
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Set-Cookie", "session=receiver; Path=/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (killed, or timed out)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, within: float = HANG_SECONDS) -> list[Received]:
        """The first `count` requests, once they have all arrived."""
        async with asyncio.timeout(within):
            while True:
                if len(self.requests) >= count:
                    return self.requests[:count]
                await asyncio.sleep(0.02)
