"""JSON logs: one JSON object per line on stdout, for the app's and uvicorn's loggers alike.

`log_config()` is handed to uvicorn (see __main__.py), so uvicorn's error and access loggers use
the same formatter; an access line carries client, method, path, status and http_version fields.
Successful health probes are left out of the access log (`ProbeFilter`): the container's
healthcheck and Kubernetes' probes call them every few seconds, which would bury everything else.
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
        fields = _access_fields(record)
        if fields is not None:
            client, method, path, http_version, status = fields
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


PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def _access_fields(record: logging.LogRecord) -> tuple[str, str, str, str, Any] | None:
    """(client, method, path, http_version, status) of a uvicorn access record, else None."""
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        return record.args  # type: ignore[return-value]
    return None


class ProbeFilter(logging.Filter):
    """Drops access lines of health probes that succeeded (GET /healthz or /readyz, status below
    400), whoever sent them: the container's healthcheck (from 127.0.0.1), the kubelet, Cloud Run,
    a load balancer. A probe that fails (a 503 from /readyz) is still logged: that is news. The
    request counter on /metrics still counts every probe.

    Decided on the response rather than on the caller: uvicorn's access record carries no
    headers (no User-Agent), and a kubelet probes from the node's address, not 127.0.0.1."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _access_fields(record)
        if fields is None:
            return True
        _client, method, path, _http_version, status = fields
        probe = method in ("GET", "HEAD") and str(path).partition("?")[0] in PROBE_PATHS
        return not (probe and int(status) < 400)


def log_config(level: str) -> dict[str, Any]:
    """A logging.config.dictConfig dictionary (uvicorn's `log_config` accepts one)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"probes": {"()": ProbeFilter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # a logger's filter runs before its record propagates to the root's handler
            "uvicorn.access": {
                "handlers": [],
                "level": level,
                "propagate": True,
                "filters": ["probes"],
            },
        },
    }
