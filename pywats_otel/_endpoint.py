"""The small HTTP endpoint on prometheus_host:prometheus_port: /metrics and /health*.

A stdlib ThreadingHTTPServer in one daemon thread, like prometheus_client's own server, so that
one port serves the scrape and the health probes. A port that is taken is a warning, not a
crash: the endpoint then reports itself as not serving.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["HealthResponder", "TelemetryEndpoint"]

_logger = logging.getLogger("pywats_otel")

#: Answers a health path ("/health", "/health/live", "/health/ready") with (status, JSON body).
HealthResponder = Callable[[str], tuple[int, dict[str, Any]]]

_HEALTH_PATHS = ("/health", "/health/live", "/health/ready")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # SO_REUSEADDR lets a restarted station bind while old connections linger in TIME_WAIT on
    # POSIX; on Windows it would let two processes share the port, so use the exclusive flag.
    allow_reuse_address = os.name != "nt"
    endpoint: TelemetryEndpoint

    def server_bind(self) -> None:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if os.name == "nt" and exclusive is not None:  # pragma: no cover - Windows only
            self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # A client that connects and sends nothing must not hold a thread forever.
    timeout = 10
    protocol_version = "HTTP/1.1"
    server_version = "pywats-otel"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        endpoint = self.server.endpoint
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if path == "/metrics":
                status, content_type, body, extra = endpoint.render_metrics(
                    self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")
                )
            elif path in _HEALTH_PATHS:
                status, payload = endpoint.health(path)
                content_type = "application/json"
                body, extra = json.dumps(payload).encode(), {"Cache-Control": "no-store"}
            else:
                status, content_type, extra = 404, "application/json", {}
                body = json.dumps(
                    {"error": "not found", "paths": ["/metrics", *_HEALTH_PATHS]}
                ).encode()
        except Exception:
            _logger.exception("pywats_otel: the endpoint failed to answer %s", path)
            status, content_type, extra, body = 500, "text/plain", {}, b"internal error\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib writes every request to stderr; a scrape every few seconds is not news.
        _logger.debug("pywats_otel endpoint: " + format, *args)


class TelemetryEndpoint:
    """Serves a Prometheus registry at /metrics and health answers at /health*."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: HealthResponder,
        *,
        port_setting: str = "PYWATS_OTEL_PROMETHEUS_PORT",
    ) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self._health = health
        self._port_setting = port_setting
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.scrapes = 0
        self.last_scrape: float | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is not None:
            return int(self._server.server_address[1])
        return self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> bool:
        """Bind and serve in a daemon thread; on a bind error log one warning and return False."""
        try:
            family = _address_family(self.host, self.requested_port)
            server_class = type("_BoundServer", (_Server,), {"address_family": family})
            server = server_class((self.host, self.requested_port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                self.error = f"port {self.requested_port} is already in use"
                _logger.warning(
                    "pywats_otel: port %d on %s is already in use (Prometheus itself listens on "
                    "9090 by default), so /metrics and /health are not served; set %s to a free "
                    "port. Traces, logs and other exporters carry on.",
                    self.requested_port,
                    self.host,
                    self._port_setting,
                )
            else:
                self.error = f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}"
                _logger.warning(
                    "pywats_otel: cannot listen on %s:%d (%s), so /metrics and /health are not "
                    "served; check PYWATS_OTEL_PROMETHEUS_HOST and %s.",
                    self.host,
                    self.requested_port,
                    exc.strerror or exc,
                    self._port_setting,
                )
            return False
        server.endpoint = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="pywats-otel-endpoint",
            daemon=True,
        )
        self._thread.start()
        return True

    def stop(self, timeout_s: float = 1.0) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # shutdown() waits for serve_forever to notice; it polls every 0.2 s.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        server.server_close()

    def render_metrics(
        self, accept: str, accept_encoding: str
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """The registry in the format the scraper asked for (text or OpenMetrics), maybe gzipped."""
        encoder, content_type = choose_encoder(accept)
        body: bytes = encoder(self.registry)
        self.scrapes += 1
        self.last_scrape = time.time()
        if "gzip" in accept_encoding:
            return 200, content_type, gzip.compress(body), {"Content-Encoding": "gzip"}
        return 200, content_type, body, {}

    def health(self, path: str) -> tuple[int, dict[str, Any]]:
        return self._health(path)


def _address_family(host: str, port: int) -> socket.AddressFamily:
    """IPv4 when the host has an IPv4 address (so 127.0.0.1 answers for localhost), else IPv6."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(errno.EADDRNOTAVAIL, f"unknown host {host!r}") from exc
    families = [info[0] for info in infos]
    if socket.AF_INET in families or not families:
        return socket.AF_INET
    return socket.AF_INET6
