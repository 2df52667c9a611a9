"""A URL written for libpq (Neon's console adds sslmode and channel_binding) reaches the real
server through the async driver once translated."""

from urllib.parse import urlsplit, urlunsplit

import pytest

from app.core.config import Settings
from app.core.database import Database

pytestmark = pytest.mark.anyio


def with_query(url: str, query: str) -> str:
    # The embedded server's URL already has a query (its socket directory).
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, query]))))


@pytest.mark.parametrize(
    "query",
    [
        "sslmode=prefer&channel_binding=prefer",
        "sslmode=disable&channel_binding=disable&connect_timeout=5",
        "connect_timeout=&keepalives=1&keepalives_idle=30&application_name=neon-console",
        "options=-c%20statement_timeout%3D0&gssencmode=disable&tcp_user_timeout=1000",
    ],
)
async def test_libpq_style_parameters_still_connect(
    settings: Settings, database_url: str, query: str
) -> None:
    url = with_query(database_url, query)
    database = Database(settings, url)
    await database.open()
    try:
        async with database.connection() as conn:
            assert await conn.fetchval("SELECT count(*) FROM users") >= 0
    finally:
        await database.close()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+asyncpg", "postgresql+psycopg"])
async def test_other_postgresql_schemes_connect(
    settings: Settings, database_url: str, scheme: str
) -> None:
    url = urlunsplit(urlsplit(database_url)._replace(scheme=scheme))
    database = Database(settings, url)
    await database.open()
    try:
        assert await database.ping(5.0)
    finally:
        await database.close()
