"""The list's query shapes are planned on their indexes (docs/performance.md shows the same at
10 million tasks): never a scan of the table, the search and tag filters on their GIN
indexes, and the sorts that have an index read in order, without sorting."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.core.database import parse_database_url
from app.tasks import service
from app.tasks.listing import ListQuery, list_statement

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)

# One user with many tasks among many users with a few, with varied planning fields; under
# 30,000 rows, so ANALYZE reads them all and the plans do not depend on its sample.
_SEED = """
INSERT INTO users (id) SELECT 'user-' || u FROM generate_series(0, 1000) AS u;
INSERT INTO tasks (owner_id, title, description, completed, priority, due_at, tags,
                   created_at, updated_at)
SELECT 'user-' || u,
       (ARRAY['Buy', 'Call', 'Write', 'Fix', 'Pay'])[1 + (u + n) % 5] || ' thing ' || n,
       CASE WHEN n % 3 = 0 THEN 'words ' || n END,
       n % 4 = 0,
       (u + n) % 4,
       CASE WHEN n % 5 < 2 THEN now() + make_interval(hours => n % 500 - 200) END,
       CASE n % 6 WHEN 0 THEN '{work}'::text[] WHEN 1 THEN '{home,work}' ELSE '{}' END,
       now() - make_interval(mins => n), now() - make_interval(mins => n)
FROM generate_series(0, 1000) AS u,
     generate_series(1, CASE WHEN u = 0 THEN 1000 ELSE 20 END) AS n;
"""

# (query, index the plan must read, whether the page is read in index order)
SHAPES: list[tuple[str, ListQuery, str | None, bool]] = [
    ("default", ListQuery(), "ix_tasks_owner_created", True),
    ("completed", ListQuery(completed=False), "ix_tasks_owner_created", True),
    ("sort=due_at", ListQuery(sort="due_at"), "ix_tasks_owner_due", True),
    ("sort=-due_at", ListQuery(sort="-due_at"), None, False),
    ("sort=priority", ListQuery(sort="priority"), None, False),
    ("sort=-priority", ListQuery(sort="-priority"), None, False),
    ("sort=title", ListQuery(sort="title"), "ix_tasks_owner_title", True),
    ("sort=-title", ListQuery(sort="-title"), "ix_tasks_owner_title", True),
    ("sort=-updated_at", ListQuery(sort="-updated_at"), None, False),
    ("priority", ListQuery(priorities=("high",)), None, False),
    ("tag", ListQuery(tags=("home",)), "ix_tasks_search_keys", False),
    ("tags", ListQuery(tags=("home", "work")), "ix_tasks_search_keys", False),
    ("q", ListQuery(search="buy thing 12"), "ix_tasks_search_keys", False),
    ("q prefix", ListQuery(search="b"), "ix_tasks_search_keys", False),
    ("overdue", ListQuery(overdue=True, sort="due_at"), "ix_tasks_owner_due", False),
    # The range holds about 75 of the user's tasks: reading them in the index's order and
    # sorting them after a bitmap scan of the same range cost the planner nearly the same, and
    # which one it picks moved with the statistics of the run (it sorted once behind
    # PgBouncer). Either reads the range from the index, which is what is checked.
    (
        "due range",
        ListQuery(
            due_after=NOW - timedelta(days=1), due_before=NOW + timedelta(days=3), sort="due_at"
        ),
        "ix_tasks_owner_due",
        False,
    ),
]


def nodes(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
        for init in node.get("InitPlan", []):
            stack.append(init)
    return found


@pytest.fixture(scope="module")
async def seeded(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Seeded once for the module (the tests only read), emptied again afterwards."""
    conn = await asyncpg.connect(parse_database_url(database_url).dsn)
    try:
        await conn.execute("DELETE FROM tasks; DELETE FROM users")
        await conn.execute(_SEED)
        await conn.execute("VACUUM ANALYZE tasks")
        yield conn
        await conn.execute("DELETE FROM tasks; DELETE FROM users")
    finally:
        await conn.close()


@pytest.mark.parametrize(("name", "query", "index", "in_order"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_each_shape_reads_an_index_not_the_table(
    seeded: asyncpg.Connection,
    name: str,
    query: ListQuery,
    index: str | None,
    in_order: bool,
) -> None:
    db = seeded
    for owner in ("user-0", "user-7"):
        sql, args = list_statement(owner, query, columns=service.COLUMNS, limit=50, offset=0)
        plan = json.loads(await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
        scans = [n for n in nodes(plan) if n.get("Relation Name") == "tasks"]
        used = {n.get("Index Name") for n in nodes(plan)} - {None}
        assert scans, name
        assert all(n["Node Type"] != "Seq Scan" for n in scans), (name, owner, used)
        assert used <= {
            "ix_tasks_owner_created",
            "ix_tasks_owner_due",
            "ix_tasks_owner_title",
            "ix_tasks_search_keys",
        }, (name, used)
        if owner == "user-0" and index is not None:
            # The user with many tasks: the shape's own index.
            assert index in used, (name, used)
        if owner == "user-0" and in_order:
            sorts = [n for n in nodes(plan) if n["Node Type"] in {"Sort", "Incremental Sort"}]
            assert not sorts, (name, used)
