"""A fake WATS server on 127.0.0.1 that takes reports and fails on purpose now and then.

It answers ``POST /api/reports`` with 201, a 503 (a share of ``error_rate``) or, for a share of
``timeout_rate``, only after longer than the client waits. It keeps the ``traceparent`` and
correlation header of every request, so the demo can show that they arrived.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeWATSServer", "ReceivedReport"]


@dataclass(frozen=True)
class ReceivedReport:
    report_id: str
    serial: str
    traceparent: str
    correlation_id: str


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    reports: list[ReceivedReport] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0


class FakeWATSServer:
    """Runs in a daemon thread; ``url`` is its base URL. Stop with :meth:`stop`."""

    def __init__(
        self,
        *,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        slow_s: float = 2.0,
        seed: int | None = None,
        correlation_header: str = "X-Correlation-ID",
    ) -> None:
        self.error_rate = error_rate
        self.timeout_rate = timeout_rate
        self.slow_s = slow_s
        self._random = random.Random(seed)  # noqa: S311 - failure injection, not secrets
        self._random_lock = threading.Lock()
        self._state = _State()
        self._stopping = threading.Event()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class(correlation_header))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="demo-wats-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def reports(self) -> list[ReceivedReport]:
        with self._state.lock:
            return list(self._state.reports)

    @property
    def errors(self) -> int:
        with self._state.lock:
            return self._state.errors

    @property
    def timeouts(self) -> int:
        with self._state.lock:
            return self._state.timeouts

    def stop(self) -> None:
        """Stop serving; a second call does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> str:
        with self._random_lock:
            roll = self._random.random()
        if roll < self.error_rate:
            return "error"
        if roll < self.error_rate + self.timeout_rate:
            return "timeout"
        return "ok"

    def _handler_class(self, correlation_header: str) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the body would wait
            # for the client's delayed ACK, 40 ms on Linux, on every keep-alive request.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path == "/api/health":
                    self._reply(200, {"status": "ok"})
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != "/api/reports":
                    self._reply(404, {"error": "not found"})
                    return
                outcome = owner._draw()
                if outcome == "timeout":
                    with owner._state.lock:
                        owner._state.timeouts += 1
                    # Longer than the uploader waits; the answer then finds a closed socket.
                    owner._stopping.wait(owner.slow_s)
                    self._reply(504, {"error": "gateway timeout"})
                    return
                if outcome == "error":
                    with owner._state.lock:
                        owner._state.errors += 1
                    self._reply(503, {"error": "service unavailable"})
                    return
                try:
                    report: dict[str, Any] = json.loads(body)
                except ValueError:
                    self._reply(400, {"error": "not JSON"})
                    return
                received = ReceivedReport(
                    report_id=str(report.get("id", "")),
                    serial=str(report.get("serial", "")),
                    traceparent=self.headers.get("traceparent", ""),
                    correlation_id=self.headers.get(correlation_header, ""),
                )
                with owner._state.lock:
                    owner._state.reports.append(received)
                self._reply(201, {"id": received.report_id})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (the timeout case)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
