"""The query plans of every task query shape on a database of a chosen size, as Markdown.

    python -m bench.plans --scale 100000x100            # seeds (or reuses) todo_bench_100000x100
    python -m bench.plans --scale 100000x100 --drop     # ... and drops it afterwards
    python -m bench.plans --heavy-user 20000            # ... also for one user with 20,000 tasks

Seeds with the benchmark's own code (bench/database.py) in the benchmark's database server
(BENCH_DATABASE_URL, or the embedded one under backend/.data/bench), then prints EXPLAIN
(ANALYZE, BUFFERS) of every shape in bench/report.py for one random seeded user, each run
once to warm the caches first; with --heavy-user, also the list shapes for one added user
with that many tasks (removed again afterwards). docs/performance.md quotes its output at 10
million tasks.
"""

import argparse
import asyncio
import os
import time

import asyncpg

from app.core.database import parse_database_url
from bench import database, report
from bench.run import BENCH_DATA_DIR, LARGE_SCALE, parse_scale


async def _sizes(url: str) -> list[str]:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT c.relname AS name, pg_size_pretty(pg_relation_size(c.oid)) AS size
            FROM pg_class AS c
            WHERE c.oid = 'tasks'::regclass
               OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'tasks'::regclass)
            ORDER BY pg_relation_size(c.oid) DESC
            """
        )
        return [f"- `{row['name']}`: {row['size']}" for row in rows]
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", type=parse_scale, default=LARGE_SCALE, help="USERSxTASKS")
    parser.add_argument("--reseed", action="store_true", help="seed even if seeded before")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--heavy-user", type=int, default=0, help="TASKS of one more user")
    args = parser.parse_args(argv)

    server = database.server_url(os.environ.get("BENCH_DATABASE_URL"), BENCH_DATA_DIR)
    started = time.monotonic()
    url = database.prepare(server, args.scale, reuse=not args.reseed)
    seeded_s = time.monotonic() - started
    (owner, tasks), *_ = database.sample_users(url, 1)
    plans = report.explain(url, owner, tasks[0])
    lines = [
        f"Data: {args.scale.label} ({args.scale.users * args.scale.tasks_per_user:,} tasks), "
        f"PostgreSQL {database.server_version(url)}; prepared in {seeded_s:.0f} s; "
        f"plans for user `{owner}`.",
        "",
        "Sizes:",
        "",
        *asyncio.run(_sizes(url)),
        "",
    ]
    for name, plan in plans.items():
        lines += [f"{name}:", "", "```", plan, "```", ""]
    if args.heavy_user:
        heavy = "bench-heavy"
        database.add_user(url, heavy, args.heavy_user)
        (_, heavy_tasks), *_ = database.sample_users(url, 1)
        heavy_plans = report.explain(url, heavy, heavy_tasks[0])
        database.remove_user(url, heavy)
        lines += [f"The same for user `{heavy}`, with {args.heavy_user:,} tasks:", ""]
        for name, plan in heavy_plans.items():
            if name.startswith("List"):
                lines += [f"{name}, {args.heavy_user:,} tasks:", "", "```", plan, "```", ""]
    print("\n".join(lines))
    if args.drop:
        database.drop(server, args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
