"""Contract fuzzing: schemathesis generates requests from the app's own OpenAPI schema, sends
them to a served instance as user "alice", and runs all of its checks on every response
(no 5xx, every status code and body as declared, bad input refused, auth not ignored, ...).

Bounded by FUZZ_SECONDS; skipped unless it is set (`make fuzz` sets it; CI runs `make fuzz`).
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET, make_token

FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "0"))
FUZZ_MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "30"))
BACKEND_DIR = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("st")
START_TIMEOUT_SECONDS = 30

pytestmark = pytest.mark.skipif(
    not FUZZ_SECONDS, reason="contract fuzzing runs with `make fuzz` (FUZZ_SECONDS)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served_api(database_url: str) -> Iterator[str]:
    """The app as `make run` serves it (one worker), on the test database."""
    port = free_port()
    environment = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_SECRET,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT": "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.serve"],
        cwd=BACKEND_DIR,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, "the server exited during start-up"
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_api_keeps_its_openapi_contract(served_api: str) -> None:
    environment = {**os.environ, "FUZZ_TOKEN": make_token("alice", lifetime=FUZZ_SECONDS + 600)}
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{served_api}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(FUZZ_MAX_EXAMPLES),
        "--max-time",
        str(FUZZ_SECONDS),
        "--request-timeout",
        "10",
        # One worker: with several threads, Python 3.11's ast.parse (which hypothesis calls to
        # describe filters) can fail with "AST constructor recursion depth mismatch".
        "--workers",
        "1",
    ]
    if seed := os.environ.get("FUZZ_SEED"):  # replays the run that printed this seed
        command += ["--seed", seed]
    done = subprocess.run(  # noqa: S603 (the schemathesis CLI of this environment)
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 300,
        check=False,
    )
    report = done.stdout[-30000:] + done.stderr[-5000:]
    print(report)
    assert done.returncode == 0, report
