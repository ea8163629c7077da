"""JSON logs: one JSON object per line on stdout, for the app's and uvicorn's loggers alike.

`log_config()` is handed to uvicorn (see __main__.py), so uvicorn's error and access loggers use
the same formatter; an access line carries client, method, path, status and http_version fields.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# LogRecord attributes that are not worth repeating in every line
_RESERVED = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == 5
        ):
            client, method, path, http_version, status = record.args
            entry.update(
                message=f"{method} {path} {status}",
                client=client,
                method=method,
                path=path,
                status=int(status),
                http_version=http_version,
            )
        else:
            entry["message"] = record.getMessage()
        # anything passed with `extra={...}`
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(level: str) -> dict[str, Any]:
    """A logging.config.dictConfig dictionary (uvicorn's `log_config` accepts one)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }
