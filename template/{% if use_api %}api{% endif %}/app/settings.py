"""Settings, read once from the environment (the contract in the project's README).

| variable | default | meaning |
|---|---|---|
| APP_ENV | production | `development` or `production` |
| LOG_LEVEL | info | debug, info, warning, error, critical |
| CORS_ORIGINS | (none) | comma-separated origins allowed to call the api from a browser |
| METRICS_ENABLED | false | `true` serves Prometheus metrics on /metrics |
| DATABASE_HOST | (none: no database) | host name, or a socket dir: /cloudsql/PROJECT:REGION:INST |
| DATABASE_PORT | 5432 | |
| DATABASE_NAME, DATABASE_USER | (required with a host) | |
| DATABASE_PASSWORD_FILE / DATABASE_PASSWORD | (none) | the file wins over the variable |
| REDIS_HOST | (none: no cache) | |
| REDIS_PORT | 6379 | |
| REDIS_PASSWORD_FILE / REDIS_PASSWORD | (none) | the file wins over the variable |

A value that cannot be understood stops the process at start with a message naming the variable,
rather than running with a guess.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import URL

APP_ENVS = ("development", "production")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class SettingsError(ValueError):
    """An environment variable holds a value the api cannot use."""


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    name: str
    user: str
    password: str | None

    @property
    def is_socket(self) -> bool:
        """A host that is an absolute path is a Unix socket directory (Cloud SQL on Cloud Run)."""
        return self.host.startswith("/")

    def url(self) -> URL:
        """The SQLAlchemy URL (psycopg 3); a socket directory goes in libpq's `host` parameter."""
        if self.is_socket:
            return URL.create(
                "postgresql+psycopg",
                username=self.user,
                password=self.password,
                database=self.name,
                query={"host": self.host, "port": str(self.port)},
            )
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.name,
        )


@dataclass(frozen=True)
class CacheSettings:
    host: str
    port: int
    password: str | None


@dataclass(frozen=True)
class Settings:
    app_env: str = "production"
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ()
    metrics_enabled: bool = False
    database: DatabaseSettings | None = None
    cache: CacheSettings | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            app_env=_choice(env, "APP_ENV", APP_ENVS, "production"),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, "info"),
            cors_origins=tuple(
                origin.strip()
                for origin in env.get("CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
            metrics_enabled=_bool(env, "METRICS_ENABLED", default=False),
            database=_database(env),
            cache=_cache(env),
        )


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = _get(env, name).lower() or default
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = _get(env, name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r}: use true or false")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _get(env, name)
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"{name}={value!r}: use a port number (1-65535)")
    return int(value)


def secret(env: Mapping[str, str], name: str) -> str | None:
    """`NAME_FILE` (a path, e.g. /run/secrets/x) wins over `NAME`; None when neither is set.

    A `NAME_FILE` that cannot be read is an error, never a silent fallback to `NAME`. One trailing
    newline is removed (files written by editors and `echo` end with one).
    """
    path = _get(env, f"{name}_FILE")
    if path:
        try:
            value = pathlib.Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={path!r}: cannot read it ({exc.strerror})") from exc
        return value.removesuffix("\n").removesuffix("\r")
    value = env.get(name)
    return value if value else None


def _database(env: Mapping[str, str]) -> DatabaseSettings | None:
    host = _get(env, "DATABASE_HOST")
    if not host:
        return None
    missing = [name for name in ("DATABASE_NAME", "DATABASE_USER") if not _get(env, name)]
    if missing:
        raise SettingsError(f"DATABASE_HOST is set: set {' and '.join(missing)} too")
    return DatabaseSettings(
        host=host,
        port=_port(env, "DATABASE_PORT", 5432),
        name=_get(env, "DATABASE_NAME"),
        user=_get(env, "DATABASE_USER"),
        password=secret(env, "DATABASE_PASSWORD"),
    )


def _cache(env: Mapping[str, str]) -> CacheSettings | None:
    host = _get(env, "REDIS_HOST")
    if not host:
        return None
    return CacheSettings(
        host=host,
        port=_port(env, "REDIS_PORT", 6379),
        password=secret(env, "REDIS_PASSWORD"),
    )
