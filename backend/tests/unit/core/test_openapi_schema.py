"""`python -m app.openapi_schema`: what `make client` generates the TypeScript types from."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import BACKEND_DIR
from app.openapi_schema import main, openapi_schema


def test_prints_the_apps_schema_without_a_server_or_database() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "app.openapi_schema"],
        cwd=BACKEND_DIR,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    schema = json.loads(printed.stdout)
    assert schema["info"]["title"] == "Todo API"
    assert "/api/v1/{user_id}/tasks" in schema["paths"]
    assert "/api/v1/{user_id}/tasks/changes" in schema["paths"]


def test_the_environment_does_not_change_the_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = openapi_schema()
    # A production configuration that could not even start, and settings that shape the app.
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("METRICS_ENABLED", "false")
    monkeypatch.setenv("RATE_LIMIT", "1/second")
    output = tmp_path / "openapi.json"
    assert main(["--output", str(output)]) == 0
    assert json.loads(output.read_text(encoding="utf-8")) == expected
