from __future__ import annotations

import json
import logging
import logging.config

import pytest

from app.logs import JsonFormatter, ProbeFilter, log_config


def record(name: str, msg: str, args=(), **attributes) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    rec.__dict__.update(attributes)
    return rec


def test_a_line_is_one_json_object_with_extras():
    line = JsonFormatter().format(record("app", "hello %s", ("world",), user_id=7))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "info"
    assert entry["logger"] == "app"
    assert entry["user_id"] == 7
    assert entry["time"].endswith("+00:00")


def test_access_lines_have_structured_fields():
    args = ("10.0.0.1:5000", "GET", "/items?x=1", "1.1", 200)
    entry = json.loads(
        JsonFormatter().format(record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', args))
    )
    assert entry["method"] == "GET"
    assert entry["path"] == "/items?x=1"
    assert entry["status"] == 200
    assert entry["client"] == "10.0.0.1:5000"


def test_exceptions_stay_on_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        rec.exc_info = sys.exc_info()
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def access(path: str, status: int, method: str = "GET", client: str = "127.0.0.1:50000"):
    args = (client, method, path, "1.1", status)
    return record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', args)


@pytest.mark.parametrize(
    ("rec", "kept"),
    [
        (access("/healthz", 200), False),  # the container's healthcheck
        (access("/readyz", 200, client="10.0.0.7:41000"), False),  # a kubelet, from its node
        (access("/readyz?verbose=1", 200), False),
        (access("/healthz", 200, method="HEAD"), False),
        (access("/readyz", 503), True),  # a failing probe is news
        (access("/healthz", 500), True),
        (access("/healthz", 200, method="POST"), True),  # not a probe
        (access("/items", 200), True),
        (access("/healthzz", 200), True),
        (record("uvicorn.error", "Started server process"), True),
        (record("app", "/healthz"), True),
    ],
)
def test_probe_filter_drops_only_successful_probes(rec, kept):
    assert ProbeFilter().filter(rec) is kept


def test_log_config_sends_json_to_stdout(capsys):
    logging.config.dictConfig(log_config("warning"))
    try:
        logging.getLogger("app.test").info("hidden")
        logging.getLogger("uvicorn.error").warning("shown")
        for path, status in (("/healthz", 200), ("/readyz", 503), ("/items", 201)):
            args = ("127.0.0.1:1", "GET", path, "1.1", status)
            logging.getLogger("uvicorn.access").warning('%s - "%s %s HTTP/%s" %d', *args)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.getLogger().handlers.clear()
    lines = capsys.readouterr().out.splitlines()
    messages = [json.loads(line)["message"] for line in lines]
    assert messages == ["shown", "GET /readyz 503", "GET /items 201"]
