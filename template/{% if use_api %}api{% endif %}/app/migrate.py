"""`python -m app.migrate`: bring the database schema to the newest migration, then exit 0.

compose runs it as the one-shot `migrate` service before `api` starts; Kubernetes as a Job or an
initContainer. It reads the same DATABASE_* variables as the api (settings.py) and exits 2 with a
message when no database is configured, 1 with a "migration failed" log line (the error and its
traceback in one JSON line) when a migration fails: compose then never starts the api, and
Kubernetes never starts the new pod's api container. The `--url` option (an SQLAlchemy URL) is
for tests and one-off runs. Alembic keeps its history in app/migrations/; `alembic` commands run
from api/ use alembic.ini, which points at the same place.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import pathlib
import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import URL

from app.logs import log_config
from app.settings import Settings, SettingsError

MIGRATIONS = pathlib.Path(__file__).with_name("migrations")
log = logging.getLogger("app.migrate")


def alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # env.py reads the URL from here; a URL object keeps the password out of the .ini string
    # interpolation (a `%` in a password would break it).
    config.attributes["url"] = url
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.migrate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="SQLAlchemy URL (default: from DATABASE_* variables)")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    logging.config.dictConfig(log_config(settings.log_level))
    if args.url:
        url: str | URL = args.url
    elif settings.database is not None:
        url = settings.database.url()
    else:
        print(
            "migrate: no database configured: set DATABASE_HOST (and DATABASE_*)", file=sys.stderr
        )
        return 2
    log.info("migrating", extra={"revision": args.revision})
    try:
        upgrade(url, args.revision)
    except Exception:  # whatever broke (SQL, the migration's code, the connection): report, exit 1
        log.exception("migration failed", extra={"revision": args.revision})
        return 1
    log.info("database is at the requested revision", extra={"revision": args.revision})
    return 0


if __name__ == "__main__":
    sys.exit(main())
