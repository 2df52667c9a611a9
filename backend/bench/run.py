"""`make bench`: seed a benchmark database, serve the product and the raw-driver ceiling as
production does, load them with wrk, and write the results to docs/performance.md.

    python -m bench.run                 # the full run (a few minutes)
    python -m bench.run --smoke         # seconds, tiny data: checks the harness end to end
    python -m bench.run --duration 60   # longer scenarios
"""

import argparse
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from app.auth.dev_token import mint
from bench import database, report
from bench.database import Scale
from bench.load import PEOPLE_DURATION_FACTOR, Result, Scenario, run_wrk
from bench.servers import BACKEND_DIR, Served

DEFAULT_SCALE = Scale(10_000, 50)
LARGE_SCALE = Scale(100_000, 100)
SMOKE_SCALE = Scale(200, 10)
OUTPUT = BACKEND_DIR.parent / "docs" / "performance.md"
RESULTS_DIR = BACKEND_DIR / "bench" / "results"
BENCH_DATA_DIR = BACKEND_DIR / ".data" / "bench"
THINK_MS = 1000
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


@dataclass
class Measured:
    """Everything one app did in this run."""

    app: str
    workers: int = 0
    results: dict[str, Result] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # scenario -> worst worker
    app_cpu: dict[str, float] = field(default_factory=dict)  # scenario -> cores used
    db_cpu: dict[str, float] = field(default_factory=dict)
    wrk_cpu: dict[str, float] = field(default_factory=dict)
    # Cores busy with anything else on the machine (other jobs): the run's noise floor.
    other_cpu: dict[str, float] = field(default_factory=dict)
    # Mix and writes scenarios: creates answered 201, and tasks those creates stored.
    writes: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Writes scenarios: events the run added to the outbox.
    events: dict[str, int] = field(default_factory=dict)
    # Scenarios run with the outbox off: the triggers that were disabled.
    outbox_off: dict[str, tuple[str, ...]] = field(default_factory=dict)


def busy_cpu_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def parse_scale(text: str) -> Scale:
    users, _, tasks = text.lower().partition("x")
    return Scale(int(users), int(tasks))


def raise_open_files_limit() -> None:
    # 2000 connections need 2000+ descriptors in wrk and in the server's workers.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 4200:
        sys.exit("bench needs `ulimit -n` of at least 4200 (2000 connections on both ends)")


def write_users(path: Path, users: list[tuple[str, list[str]]], secret: str) -> None:
    with path.open("w") as handle:
        for user_id, tasks in users:
            token = mint(secret, user_id, lifetime_seconds=6 * 3600)
            handle.write(f"{user_id}\t{token}\t{','.join(tasks)}\n")


def measure(
    apps: list[str],
    scenarios: list[Scenario],
    *,
    database_url: str,
    database_name: str,
    secret: str,
    workers: int,
    data_file: Path,
    probe: tuple[str, str],
    duration_s: int,
    warmup_s: int,
    pause_s: float,
    first_app_only: Sequence[Scenario] = (),
    limited_to: dict[str, Sequence[str]] | None = None,
) -> list[Measured]:
    """Serve every app at once and run each scenario on each in turn, back to back, so that
    the two figures of a pair saw the same machine (an idle server costs nothing). An app named
    in `limited_to` runs only the scenarios named there."""
    env = {
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": secret,
        "WORKERS": str(workers),
    }
    served = {
        app: Served(app, env, database_name, RESULTS_DIR / f"{app}-{database_name}.log")
        for app in apps
    }
    measured = {app: Measured(app) for app in apps}
    try:
        for app, server in served.items():
            server.wait_ready(*probe)
            measured[app].workers = server.worker_count()
            log(f"{app}: {measured[app].workers} workers at {server.url}")
        if warmup_s:
            for server in served.values():
                run_wrk(server.url, Scenario("warm-up", "mix", 100, 0), data_file, warmup_s)
        limits = limited_to or {}
        runs = [
            (scenario, app)
            for scenario in scenarios
            for app in apps
            if app not in limits or scenario.name in limits[app]
        ]
        runs += [(scenario, apps[0]) for scenario in first_app_only]
        for scenario, app in runs:
            time.sleep(pause_s)  # let the previous scenario's connections close
            _run_scenario(served[app], measured[app], scenario, data_file, duration_s, database_url)
    finally:
        for app, server in served.items():
            server.stop()
            log(f"{app} stopped")
    return [measured[app] for app in apps]


def _run_scenario(
    served: Served,
    measured: Measured,
    scenario: Scenario,
    data_file: Path,
    duration_s: int,
    database_url: str,
) -> None:
    counts_writes = scenario.mode in ("mix", "writes")
    counts_events = scenario.mode == "writes"
    created_before = database.created_count(database_url) if counts_writes else 0
    events_before = database.last_event_id(database_url) if counts_events else 0
    outbox: AbstractContextManager[tuple[str, ...]] = (
        nullcontext(()) if scenario.outbox else database.outbox_disabled(database_url)
    )
    with outbox as disabled:
        if not scenario.outbox:
            measured.outbox_off[scenario.name] = disabled
            log(f"{measured.app}: outbox triggers disabled for {scenario.name}: {disabled}")
        served.sampler.reset()
        busy_before = busy_cpu_seconds()
        result = run_wrk(served.url, scenario, data_file, duration_s * scenario.duration_factor)
        busy = busy_cpu_seconds() - busy_before
    if counts_writes:
        # Creates still in flight when wrk stops are stored but never counted as answered,
        # so stored >= acknowledged; fewer stored than acknowledged would be a lost write.
        stored = database.created_count(database_url) - created_before
        measured.writes[scenario.name] = (result.statuses.get("201", 0), stored)
    if counts_events:
        measured.events[scenario.name] = database.last_event_id(database_url) - events_before
    workers_usage, db_usage = served.sampler.snapshot()
    name = scenario.name
    measured.results[name] = result
    measured.peak_rss_mb[name] = max(workers_usage.peak_rss.values(), default=0) / 2**20
    measured.app_cpu[name] = workers_usage.cpu_seconds() / result.duration_s
    measured.db_cpu[name] = db_usage.cpu_seconds() / result.duration_s
    measured.wrk_cpu[name] = result.wrk_cpu_s / result.duration_s
    accounted = workers_usage.cpu_seconds() + db_usage.cpu_seconds() + result.wrk_cpu_s
    measured.other_cpu[name] = max(0.0, busy - accounted) / result.duration_s
    log(report.one_line(measured.app, result, measured.peak_rss_mb[name]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="seconds, tiny data, no report")
    parser.add_argument("--scale", type=parse_scale, default=DEFAULT_SCALE, help="USERSxTASKS")
    parser.add_argument(
        "--large-scale",
        type=parse_scale,
        default=LARGE_SCALE,
        help="USERSxTASKS for the list-at-scale comparison",
    )
    parser.add_argument("--skip-large", action="store_true", help="skip the large-scale run")
    parser.add_argument(
        "--probe-users", type=int, default=300, help="users of the list run compared across scales"
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per scenario")
    parser.add_argument("--users", default="1000,2000", help="connections of the users runs")
    parser.add_argument("--saturation", type=int, default=100, help="closed-loop connections")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 0))
    parser.add_argument("--reseed", action="store_true", help="reseed even the large database")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench installs it with apt-get)")
    raise_open_files_limit()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    workers = args.workers or os.cpu_count() or 1

    users_counts = [int(count) for count in args.users.split(",") if count]
    duration, warmup, pause = args.duration, 5, 3.0
    scale = args.scale
    if args.smoke:
        scale, users_counts, duration, warmup, pause = SMOKE_SCALE, [50], 2, 1, 0.5
        args.saturation, args.skip_large = 10, True
    # The people's targets are a p99: in 20 s at 1,000 requests a second, one stall of the
    # machine (every kind of request slowed at once for about 100 ms, as the product's request
    # log showed once in a run: an autovacuum, a checkpoint, other work) is 1% of the requests
    # and makes the p99 its own. Three times as long.
    scenarios = [
        Scenario(f"users-{count}", "mix", count, THINK_MS, duration_factor=PEOPLE_DURATION_FACTOR)
        for count in users_counts
    ]
    scenarios += [
        Scenario("saturation-list", "list", args.saturation, 0),
        Scenario("saturation-mix", "mix", args.saturation, 0),
    ]
    # The outbox's cost on writes (docs/performance.md): the product without and with its
    # outbox, and the ceiling as it was before the outbox, back to back (the order of
    # `scenarios` x apps; the outbox-off runs first, so that the product with its outbox sees
    # the most grown tables). The other scenarios' ceiling keeps the trigger: the same work.
    writes_off = Scenario(report.WRITES_OUTBOX_OFF, "writes", args.saturation, 0, outbox=False)
    writes = Scenario(report.WRITES, "writes", args.saturation, 0)
    scenarios += [writes_off, writes]
    # Compared across scales, so at a load both can serve: an overloaded server's p99 is
    # its queue, not the query.
    scale_probe = Scenario(f"users-{args.probe_users}-list", "list", args.probe_users, THINK_MS)

    server = database.server_url(os.environ.get("BENCH_DATABASE_URL"), BENCH_DATA_DIR)
    url = database.prepare(server, scale, reuse=False)
    secret = secrets.token_urlsafe(48)  # the apps are started with it, the tokens signed with it
    common = {
        "secret": secret,
        "workers": workers,
        "duration_s": duration,
        "warmup_s": warmup,
        "pause_s": pause,
    }
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as scratch:
        data_file = Path(scratch) / "users.tsv"
        users = database.sample_users(url, max([*users_counts, args.saturation, args.probe_users]))
        write_users(data_file, users, secret)
        probe = (f"/api/v1/{users[0][0]}/tasks", mint(secret, users[0][0]))
        run_on = {
            "database_url": url,
            "database_name": scale.database,
            "data_file": data_file,
            "probe": probe,
        }
        # The list-only probe is compared across scales; the smoke has only one scale.
        probes = [] if args.smoke else [scale_probe]
        # The framework floor only where the ratios to the ceiling are targets: closed loop,
        # but for the write comparison, which is the product's against itself, and 1,000
        # people (whose p99 is compared with the ceiling's).
        with_floor = [
            scenario.name
            for scenario in scenarios
            if (not scenario.think_ms and scenario.mode != "writes")
            or scenario.name == "users-1000"
        ]
        product, ceiling, floor = measure(
            ["product", "ceiling", "floor"],
            scenarios,
            first_app_only=probes,
            limited_to={
                "floor": with_floor,
                "ceiling": [scenario.name for scenario in scenarios if scenario is not writes],
            },
            **run_on,
            **common,
        )
        explains = report.explain(url, users[0][0], users[0][1][0])

        large: Measured | None = None
        large_explains: dict[str, str] = {}
        if not args.skip_large:
            large_url = database.prepare(server, args.large_scale, reuse=not args.reseed)
            large_data = Path(scratch) / "large-users.tsv"
            large_users = database.sample_users(large_url, scale_probe.connections)
            write_users(large_data, large_users, secret)
            (large,) = measure(
                ["product"],
                [scale_probe],
                database_url=large_url,
                database_name=args.large_scale.database,
                data_file=large_data,
                probe=(
                    f"/api/v1/{large_users[0][0]}/tasks",
                    mint(secret, large_users[0][0]),
                ),
                **common,
            )
            large_explains = report.explain(large_url, large_users[0][0], large_users[0][1][0])

    context = report.Context(
        scale=scale,
        large_scale=None if large is None else args.large_scale,
        workers=workers,
        duration_s=duration,
        think_ms=THINK_MS,
        database=database.server_version(url),
        command=" ".join(["make bench", *(argv if argv is not None else sys.argv[1:])]),
    )
    text = report.markdown(context, product, ceiling, floor, large, scale_probe)
    plans = report.details(context, explains, large_explains)
    if args.smoke:
        (RESULTS_DIR / "smoke.md").write_text(text + "\n" + plans)
        return report.smoke_verdict(product, ceiling, floor)
    report.write(args.output, text, plans)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
