from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from app.settings import Settings, SettingsError

DB = {"DATABASE_HOST": "db", "DATABASE_NAME": "app", "DATABASE_USER": "app"}


def test_defaults_mean_no_database_no_cache_no_metrics():
    settings = Settings.from_env({})
    assert settings.app_env == "production"
    assert settings.log_level == "info"
    assert settings.cors_origins == ()
    assert settings.metrics_enabled is False
    assert settings.database is None
    assert settings.cache is None


def test_values_are_read():
    settings = Settings.from_env(
        {
            "APP_ENV": "development",
            "LOG_LEVEL": "DEBUG",
            "METRICS_ENABLED": "true",
            "CORS_ORIGINS": " http://localhost:5173 ,https://example.org,, ",
            **DB,
            "DATABASE_PORT": "6543",
            "DATABASE_PASSWORD": "pw",
            "REDIS_HOST": "cache",
            "REDIS_PASSWORD": "rpw",
        }
    )
    assert settings.app_env == "development"
    assert settings.log_level == "debug"
    assert settings.metrics_enabled is True
    assert settings.cors_origins == ("http://localhost:5173", "https://example.org")
    assert settings.database is not None
    assert (settings.database.host, settings.database.port) == ("db", 6543)
    assert (settings.database.name, settings.database.user) == ("app", "app")
    assert settings.database.password == "pw"
    assert settings.cache is not None
    assert (settings.cache.host, settings.cache.port, settings.cache.password) == (
        "cache",
        6379,
        "rpw",
    )


@pytest.mark.parametrize("prefix", ["DATABASE", "REDIS"])
def test_password_file_wins_over_variable(tmp_path, prefix):
    secret = tmp_path / "secret.txt"
    secret.write_text("from-file\n")
    env = {
        **DB,
        "REDIS_HOST": "cache",
        f"{prefix}_PASSWORD": "from-variable",
        f"{prefix}_PASSWORD_FILE": str(secret),
    }
    settings = Settings.from_env(env)
    section = settings.database if prefix == "DATABASE" else settings.cache
    assert section.password == "from-file"  # the trailing newline is not part of it


@pytest.mark.parametrize("prefix", ["DATABASE", "REDIS"])
def test_unreadable_password_file_is_an_error_not_a_fallback(tmp_path, prefix):
    env = {
        **DB,
        "REDIS_HOST": "cache",
        f"{prefix}_PASSWORD": "from-variable",
        f"{prefix}_PASSWORD_FILE": str(tmp_path / "missing.txt"),
    }
    with pytest.raises(SettingsError, match=f"{prefix}_PASSWORD_FILE"):
        Settings.from_env(env)


def test_password_without_file_and_without_variable_is_none():
    assert Settings.from_env(DB).database.password is None


def test_tcp_url_keeps_special_characters_in_the_password():
    settings = Settings.from_env({**DB, "DATABASE_PASSWORD": "p@ss:w/rd%"})
    url = settings.database.url()
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db", 5432, "app", "app")
    assert url.password == "p@ss:w/rd%"
    args = create_engine(url).dialect.create_connect_args(url)[1]
    assert args["password"] == "p@ss:w/rd%"
    assert args["host"] == "db"


def test_cloud_sql_socket_directory_becomes_a_unix_socket_dsn():
    socket_dir = "/cloudsql/my-project:europe-west1:main"
    settings = Settings.from_env({**DB, "DATABASE_HOST": socket_dir})
    assert settings.database.is_socket
    url = settings.database.url()
    assert url.host is None
    args = create_engine(url).dialect.create_connect_args(url)[1]
    assert args["host"] == socket_dir  # libpq: a host starting with "/" is a socket directory
    assert args["dbname"] == "app"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"METRICS_ENABLED": "maybe"}, "METRICS_ENABLED"),
        ({**DB, "DATABASE_PORT": "http"}, "DATABASE_PORT"),
        ({"REDIS_HOST": "cache", "REDIS_PORT": "70000"}, "REDIS_PORT"),
        ({"DATABASE_HOST": "db", "DATABASE_USER": "app"}, "DATABASE_NAME"),
        ({"DATABASE_HOST": "db", "DATABASE_NAME": "app"}, "DATABASE_USER"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("FALSE", False), ("", False)]
)
def test_metrics_enabled_spellings(value, expected):
    assert Settings.from_env({"METRICS_ENABLED": value}).metrics_enabled is expected
