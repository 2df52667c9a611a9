"""Starting the served app the way production does, and watching its worker processes."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BACKEND_DIR = Path(__file__).resolve().parents[1]

# The product is served by `python -m app.serve`, the ceiling and the framework floor by the same
# `serve()` function.
COMMANDS = {
    "product": [sys.executable, "-m", "app.serve"],
    "ceiling": [sys.executable, "-m", "bench.ceiling_serve"],
    "floor": [sys.executable, "-m", "bench.floor_serve"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Usage:
    """Peak resident memory per worker, and CPU seconds, over one measured interval."""

    peak_rss: dict[int, int] = field(default_factory=dict)
    cpu_start: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        return sum(self.cpu_last[pid] - self.cpu_start.get(pid, 0.0) for pid in self.cpu_last)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def workers_of(server: psutil.Process) -> list[psutil.Process]:
    """The server's worker processes (multiprocessing's resource tracker is not one)."""
    workers = []
    for child in server.children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            continue
    return workers


class Sampler(threading.Thread):
    """Samples the workers (the server's child processes) and the database backends."""

    def __init__(self, server_pid: int, database: str, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self._server = psutil.Process(server_pid)
        self._database = database
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.workers = Usage()
        self.postgres = Usage()
        self._known_postgres: dict[int, psutil.Process] = {}
        self._last_scan = 0.0

    def reset(self) -> None:
        with self._lock:
            self.workers = Usage()
            self.postgres = Usage()
        self._sample()

    def snapshot(self) -> tuple[Usage, Usage]:
        self._sample()
        with self._lock:
            return self.workers, self.postgres

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _postgres_backends(self) -> list[psutil.Process]:
        # Scanning every process is slow; new backends only appear when pools grow.
        now = time.monotonic()
        if now - self._last_scan > 2.0:
            self._last_scan = now
            for process in psutil.process_iter(["name", "cmdline"]):
                cmdline = " ".join(process.info["cmdline"] or [])
                if process.info["name"] == "postgres" and f" {self._database} " in cmdline:
                    self._known_postgres.setdefault(process.pid, process)
        return list(self._known_postgres.values())

    def _sample(self) -> None:
        try:
            workers = workers_of(self._server)
        except psutil.NoSuchProcess:
            return
        samples: list[tuple[Usage, psutil.Process, bool]] = [
            (self.workers, worker, True) for worker in workers
        ]
        samples += [(self.postgres, backend, False) for backend in self._postgres_backends()]
        with self._lock:
            for usage, process, track_memory in samples:
                try:
                    with process.oneshot():
                        cpu = _cpu(process)
                        rss = process.memory_info().rss if track_memory else 0
                except psutil.Error:
                    continue
                usage.cpu_start.setdefault(process.pid, cpu)
                usage.cpu_last[process.pid] = cpu
                if track_memory:
                    usage.peak_rss[process.pid] = max(usage.peak_rss.get(process.pid, 0), rss)


class Served:
    """One app served on a free port, from start to SIGTERM."""

    def __init__(self, name: str, env: dict[str, str], database: str, log_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("w")
        full_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.process = subprocess.Popen(
            COMMANDS[name],
            cwd=BACKEND_DIR,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that a kill reaches the workers too.
            start_new_session=True,
        )
        self.sampler = Sampler(self.process.pid, database)

    def wait_ready(self, probe_path: str, token: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(
            self.url + probe_path, headers={"Authorization": f"Bearer {token}"}
        )
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        # Give every worker time to finish its own start-up.
                        time.sleep(1.0)
                        self.sampler.start()
                        return
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"{self.name} answered {probe_path} with {exc.code}") from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {probe_path} within {timeout} s")

    def worker_count(self) -> int:
        return len(workers_of(psutil.Process(self.process.pid)))

    def stop(self) -> None:
        self.sampler.stop()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
