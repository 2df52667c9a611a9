"""DATABASE_URL as PostgreSQL tools and Neon's console write it, translated for asyncpg."""

import pytest

from app.core.database import InvalidDatabaseUrl, parse_database_url

NEON = (
    "postgresql://user:pass@ep-x-pooler.eu-central-1.aws.neon.tech/neondb"
    "?sslmode=require&channel_binding=require"
)


def test_neons_console_url_keeps_tls_and_drops_channel_binding() -> None:
    params = parse_database_url(NEON)
    assert params.dsn == (
        "postgresql://user:pass@ep-x-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require"
    )
    assert params.connect_timeout is None


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_database_url(f"  {NEON}\n") == parse_database_url(NEON)


@pytest.mark.parametrize(
    "scheme", ["postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg", "POSTGRES"]
)
def test_postgresql_schemes_become_postgresql(scheme: str) -> None:
    params = parse_database_url(f"{scheme}://u:p@db.example.com:6543/app")
    assert params.dsn == "postgresql://u:p@db.example.com:6543/app"


@pytest.mark.parametrize(
    ("value", "seconds"), [("10", 10.0), ("2.5", 2.5), ("", None), ("0", None)]
)
def test_connect_timeout_is_taken_out_of_the_dsn(value: str, seconds: float | None) -> None:
    params = parse_database_url(f"postgresql://h/db?connect_timeout={value}&sslmode=require")
    assert params.connect_timeout == seconds
    assert params.dsn == "postgresql://h/db?sslmode=require"


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_an_unusable_connect_timeout_is_refused(value: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match="connect_timeout"):
        parse_database_url(f"postgresql://h/db?connect_timeout={value}")


@pytest.mark.parametrize(
    "parameter",
    [
        "channel_binding=require",
        "gssencmode=disable",
        "keepalives=1",
        "keepalives_idle=30",
        "keepalives_interval=5",
        "keepalives_count=3",
        "options=endpoint%3Dep-x",
        "requiressl=1",
        "tcp_user_timeout=1000",
    ],
)
def test_libpq_only_parameters_are_dropped(parameter: str) -> None:
    params = parse_database_url(f"postgresql://h/db?{parameter}&application_name=todo")
    assert params.dsn == "postgresql://h/db?application_name=todo"


def test_parameters_asyncpg_understands_are_kept() -> None:
    url = "postgresql://h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&target_session_attrs=read-write"
    assert parse_database_url(url).dsn == url


def test_credentials_hosts_and_sockets_are_kept_as_given() -> None:
    url = "postgresql://us%40er:p%3Ass%2Fw@[::1]:5433/my%20db"
    assert parse_database_url(url).dsn == url
    socket = "postgresql://postgres:@/postgres?host=%2Ftmp%2Fpg"
    assert parse_database_url(socket).dsn == socket


@pytest.mark.parametrize(
    "url",
    ["mysql://u:p@h/db", "sqlite:///todo.db", "postgresql+psycopg2x://h/db", "h:5432/db", ""],
)
def test_other_databases_are_refused_with_a_clear_message(url: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match="postgresql://"):
        parse_database_url(url)
