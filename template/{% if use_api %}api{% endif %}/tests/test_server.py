"""`python -m app` for real: JSON lines on stdout (access log included, successful health probes
left out), clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

API_DIR = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serves_logs_json_and_stops_cleanly_on_sigterm():
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_"))
    }
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=API_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a start-up bound, not a speed check: CI may be busy
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=1
                ) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as error:  # no database configured: 503
            urllib.request.urlopen(f"http://127.0.0.1:{port}/items", timeout=5)
        error.value.close()
        assert error.value.code == 503
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=15)
        assert time.monotonic() - started < 5, "SIGTERM took too long"
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn shuts down cleanly, then re-raises the signal it caught (exit status 143 in docker)
    assert server.returncode in (0, -signal.SIGTERM), err
    entries = [json.loads(line) for line in out.splitlines()]  # every line is JSON
    access = [(e["path"], e["status"]) for e in entries if e["logger"] == "uvicorn.access"]
    assert access == [("/items", 503)], "probes that succeeded must not be in the access log"
    assert any(entry["message"] == "api stopped" for entry in entries)
    assert err == ""
