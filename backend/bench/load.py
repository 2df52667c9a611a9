"""Running wrk with bench/lua/todo.lua and reading back what it measured."""

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SCRIPT = Path(__file__).resolve().parent / "lua" / "todo.lua"
# The users-N scenarios of the mix run this many times the scenario duration (bench/run.py).
PEOPLE_DURATION_FACTOR = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # "list", "mix" or "writes"
    connections: int
    think_ms: int  # 0 = closed loop
    # False: the outbox's triggers are disabled for the run (bench/database.py OUTBOX_TRIGGERS).
    outbox: bool = True
    # Runs this many times the scenario duration (the people scenarios: see bench/run.py).
    duration_factor: int = 1

    @property
    def offered_per_second(self) -> float | None:
        """What people with this think time would ask for if answers were instant."""
        return self.connections * 1000 / self.think_ms if self.think_ms else None


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    duration_s: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    # An upper bound of the 2xx answers' p99 (wrk times every status in one histogram).
    p99_answered_ms: float
    max_ms: float
    wrk_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def ok_rps(self) -> float:
        return (self.requests - self.non_2xx) / self.duration_s

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def shed(self) -> int:
        """Requests refused with 503 for overload (counted in the mix and writes scenarios)."""
        return self.statuses.get("503", 0)

    @property
    def answered_share(self) -> float | None:
        offered = self.scenario.offered_per_second
        return self.ok_rps / offered if offered else None


def run_wrk(
    url: str, scenario: Scenario, data_file: Path, duration_s: int, threads: int = 2
) -> Result:
    env = {
        **os.environ,
        "BENCH_DATA": str(data_file),
        "BENCH_MODE": scenario.mode,
        "BENCH_THINK_MS": str(scenario.think_ms),
        # wrk gives each thread this many connections (todo.lua spreads their first requests).
        "BENCH_CONNECTIONS_PER_THREAD": str(scenario.connections // threads),
    }
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{scenario.connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    started = time.monotonic()
    process = psutil.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu = 0.0
    while process.poll() is None:
        try:
            times = process.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            break
        time.sleep(0.2)
    out, err = process.communicate()
    stdout = out.decode()
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stdout}\n{err.decode()}")
    data = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    statuses: dict[str, int] = {}
    for part in data["statuses"]:
        for code, count in part.items():
            statuses[code] = statuses.get(code, 0) + count
    errors = data["errors"]
    latency = data["latency_us"]
    elapsed = data["duration_us"] / 1e6 or (time.monotonic() - started)
    return Result(
        scenario=scenario,
        duration_s=elapsed,
        requests=data["requests"],
        non_2xx=errors["status"],
        socket_errors={key: errors[key] for key in ("connect", "read", "write", "timeout")},
        statuses=statuses,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        p99_answered_ms=latency["p99_answered"] / 1000,
        max_ms=latency["max"] / 1000,
        wrk_cpu_s=cpu,
    )
