"""Behind a pooler, processes share server connections: asyncpg's statement names
(`__asyncpg_stmt_<n>__`) must not start from the same number in every process."""

import subprocess
import sys

PRINT_NEXT_NAME = (
    "import app.core.database, asyncpg.connection as c; "
    "print(c.Connection._get_unique_id(None, 'stmt'))"
)


def _next_statement_name() -> str:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", PRINT_NEXT_NAME], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_each_process_names_its_statements_from_its_own_random_start() -> None:
    names = {_next_statement_name() for _ in range(3)}
    assert len(names) == 3
    assert "__asyncpg_stmt_1__" not in names
