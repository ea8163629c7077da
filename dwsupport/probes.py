"""Probes of services on 127.0.0.1 (HTTP, HTTPS with SNI, raw TCP), free ports, and polling.

Failures raise `ProbeError` (an AssertionError) naming what was asked and what happened.
"""

from __future__ import annotations

import dataclasses
import http.client as httpclient
import json
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ProbeError(AssertionError):
    """A probe or a wait failed (the message has the evidence)."""


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    cert: bytes | None = None  # the server's certificate (DER), for tls=True requests

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers.get('content-type', '')}: {self.text[:300]!r}"


class _SNIConnection(httpclient.HTTPSConnection):
    """HTTPS to 127.0.0.1 that sends `sni` as the TLS server name (http.client would send none
    for an IP address) and verifies nothing: the smoke stacks serve self-signed certificates."""

    def __init__(self, port: int, sni: str):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, timeout=10, context=context)
        self.sni = sni
        self.tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.sni)


def http(
    port: int,
    path: str,
    *,
    host: str = "localhost",
    method: str = "GET",
    payload: Any = None,
    retry_for: float = 10.0,
    tls: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request to 127.0.0.1:port with a Host header (and any other `headers`). Retries (up to
    retry_for seconds) only while the connection is refused/reset or a proxy answers 502 (upstream
    not reachable yet). tls=True: HTTPS with `host` as the SNI too, certificate not verified
    (Response.cert has it)."""
    deadline = time.monotonic() + retry_for
    body = json.dumps(payload).encode() if payload is not None else None
    headers = {**(headers or {}), "Host": host, "Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    scheme = "https" if tls else "http"
    while True:
        conn: httpclient.HTTPConnection = (
            _SNIConnection(port, host) if tls else httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
        )
        try:
            conn.request(method, path, body=body, headers=headers)
            # before getresponse(): with `Connection: close` it hands the socket to the response
            cert = conn.sock.getpeercert(binary_form=True) if isinstance(conn.sock, ssl.SSLSocket) else None
            raw = conn.getresponse()
            resp = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read(), cert)
        except (ConnectionError, httpclient.HTTPException, TimeoutError, OSError) as exc:
            if time.monotonic() > deadline:
                raise ProbeError(
                    f"{method} {scheme}://127.0.0.1:{port}{path} (Host: {host}): {exc!r}"
                ) from exc
        else:
            if resp.status != 502 or time.monotonic() > deadline:
                return resp
        finally:
            conn.close()
        time.sleep(0.5)


def tcp_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes to 127.0.0.1:port, return what the server answers first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(256)


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Poll predicate() until it returns a truthy value (returned); ProbeError naming `what` on
    timeout. A ProbeError raised by the predicate counts as "not yet" (the last one is shown)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except ProbeError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    raise ProbeError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
