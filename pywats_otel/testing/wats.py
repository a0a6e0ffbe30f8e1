"""A fake WATS server on 127.0.0.1 for tests of pyWATS stations: it takes what pywats-api posts.

``POST /api/Report/WSJF`` answers ``{"ID": "<uuid>"}`` (pyWATS's ``submit_report()`` returns
it), ``GET /api/App/Version`` a version string; anything else 404. Every request is kept with
its method, path, headers and body size, so a test sees the ``traceparent`` and correlation
header that arrived. ``fail_next(status)`` makes the next requests fail::

    with FakeWATS() as server:
        api = pyWATS(base_url=server.url, token=server.token, station=...)
        api.report.submit_report(report)
        assert server.requests[0].headers["traceparent"]
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeWATS", "WATSRequest"]


@dataclass(frozen=True)
class WATSRequest:
    """One request the server answered."""

    method: str
    path: str
    #: Header names as sent; look them up with :meth:`header` for any letter case.
    headers: dict[str, str]
    body_size: int
    status: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[WATSRequest] = field(default_factory=list)
    failures: deque[int] = field(default_factory=deque)


class FakeWATS:
    """Serves in a daemon thread from construction; ``url`` is its base URL."""

    version = "25.3.0"

    def __init__(self) -> None:
        self._state = _State()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._state, self.version))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-wats",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    #: A pyWATS API token (base64 of user:password): any is accepted.
    token = base64.b64encode(b"station:secret").decode()

    @property
    def requests(self) -> list[WATSRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP ``status``."""
        with self._state.lock:
            self._state.failures.extend([status] * times)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeWATS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(state: _State, version: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the body would wait for
        # the client's delayed ACK (40 ms on Linux) on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._answer(0)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            self._answer(len(body))

        def _answer(self, size: int) -> None:
            path = self.path.split("?", 1)[0]
            with state.lock:
                forced = state.failures.popleft() if state.failures else None
            payload: Any
            if forced is not None:
                status, payload = forced, {"Message": f"injected {forced}"}
            elif self.command == "POST" and path.lower() == "/api/report/wsjf":
                status, payload = 200, {"ID": str(uuid.uuid4())}
            elif self.command == "GET" and path.lower() == "/api/app/version":
                status, payload = 200, version
            else:
                status, payload = 404, {"Message": "not found"}
            with state.lock:
                state.requests.append(
                    WATSRequest(self.command, path, dict(self.headers.items()), size, status)
                )
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read .requests

    return Handler
