"""What a server worker loads. The request path runs its SQL on asyncpg directly: the SQLModel
table definitions (and SQLAlchemy under them) are for Alembic's migrations only, and loading
them would cost every worker about 20 MB of memory (docs/performance.md, Memory); so would
the MCP SDK, loaded by the first request to /mcp only."""

import subprocess
import sys
import textwrap
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parents[3]


def test_a_worker_never_loads_the_table_definitions() -> None:
    script = textwrap.dedent(
        """
        import sys
        from app.core.config import Settings
        from app.main import create_app

        app = create_app(Settings(_env_file=None, jwt_secret="x" * 40, mcp_enabled=True))
        app.openapi()
        loaded = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("sqlmodel", "sqlalchemy", "alembic", "mcp", "mcp_types")
            or (name.startswith("app.") and name.endswith(".models"))
        )
        print(" ".join(loaded))
        """
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script],
        cwd=BACKEND_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == []
