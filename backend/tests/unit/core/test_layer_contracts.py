"""The import-linter contracts (backend/.importlinter, `make layers`) name the domain packages
one by one, so a new package must be added to them: otherwise app.core could import it, or it
could import the entry points, and no contract would say so."""

import configparser
from pathlib import Path

from app.core.config import BACKEND_DIR

CONTRACTS = Path(BACKEND_DIR) / ".importlinter"
ENTRY_POINTS = {"app.main", "app.serve", "app.openapi_schema"}


def _modules(section: str, option: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(CONTRACTS, encoding="utf-8")
    return set(config[f"importlinter:contract:{section}"][option].split())


def _domain_packages() -> set[str]:
    app = Path(BACKEND_DIR) / "app"
    return {
        f"app.{path.parent.name}"
        for path in app.glob("*/__init__.py")
        if path.parent.name != "core"
    }


def test_core_may_import_no_domain_package_and_no_entry_point() -> None:
    forbidden = _modules("core-imports-no-domain", "forbidden_modules")
    missing = (_domain_packages() | ENTRY_POINTS) - forbidden
    assert not missing, f"add {sorted(missing)} to core-imports-no-domain's forbidden_modules"


def test_no_domain_package_may_import_the_entry_points() -> None:
    sources = _modules("domains-never-import-the-entry-points", "source_modules")
    missing = _domain_packages() - sources
    assert not missing, f"add {sorted(missing)} to domains-never-import-the-entry-points"
    assert _modules("domains-never-import-the-entry-points", "forbidden_modules") == ENTRY_POINTS
