from __future__ import annotations

import json
import logging
import logging.config

from app.logs import JsonFormatter, log_config


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


def test_log_config_sends_json_to_stdout(capsys):
    logging.config.dictConfig(log_config("warning"))
    try:
        logging.getLogger("app.test").info("hidden")
        logging.getLogger("uvicorn.error").warning("shown")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.getLogger().handlers.clear()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["shown"]
