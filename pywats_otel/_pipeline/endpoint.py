"""The small HTTP endpoint on prometheus_host:prometheus_port: /metrics, /traces, /health*.

A stdlib ThreadingHTTPServer in one daemon thread, like prometheus_client's own server, so that
one port serves the scrape and the health probes. A port that is taken is a warning, not a
crash: the endpoint then reports itself as not serving. Optional HTTP basic auth (compared in
constant time) and TLS; the TLS handshake runs in the request's thread, so a client that
connects and stays silent cannot stall the others.
"""

from __future__ import annotations

import base64
import binascii
import errno
import gzip
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.exposition import choose_encoder

from pywats_otel import semconv
from pywats_otel.health import HEALTH_PATHS

if TYPE_CHECKING:
    from pydantic import SecretStr

    from pywats_otel._pipeline.export import ExportStats

__all__ = ["HealthResponder", "TelemetryEndpoint"]

_logger = logging.getLogger("pywats_otel")

#: Answers a health path ("/health", "/health/live", "/health/ready") with (status, JSON body).
HealthResponder = Callable[[str], tuple[int, dict[str, Any]]]
#: Answers /traces... (the request path with its query, the Accept header) with (status,
#: content type, body).
TracesResponder = Callable[[str, str], tuple[int, str, bytes]]

_REALM = 'Basic realm="pywats-otel", charset="UTF-8"'
#: Seconds a client has to complete the TLS handshake.
_HANDSHAKE_TIMEOUT_S = 10.0


def _credentials_digest(username: str, password: str) -> bytes:
    # Digests have one length, so the comparison takes the same time for any guess.
    return hashlib.sha256(f"{username}:{password}".encode()).digest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # SO_REUSEADDR lets a restarted station bind while old connections linger in TIME_WAIT on
    # POSIX; on Windows it would let two processes share the port, so use the exclusive flag.
    allow_reuse_address = os.name != "nt"
    endpoint: TelemetryEndpoint
    tls_context: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if os.name == "nt" and exclusive is not None:  # pragma: no cover - Windows only
            self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.tls_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(_HANDSHAKE_TIMEOUT_S)
        try:
            tls_socket = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            # A plain-HTTP client or a scanner: its problem, not a warning of ours.
            _logger.debug(
                "pywats_otel endpoint: TLS handshake with %s failed: %s", client_address, exc
            )
            return
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            tls_socket.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # A client that connects and sends nothing must not hold a thread forever.
    timeout = 10
    protocol_version = "HTTP/1.1"
    server_version = "pywats-otel"
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
    # scraper's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        endpoint = self.server.endpoint
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            if not endpoint.authorized(self.headers.get("Authorization")):
                status, content_type = 401, "application/json"
                body = json.dumps({"error": "unauthorized"}).encode()
                extra = {"WWW-Authenticate": _REALM}
            elif path == "/metrics":
                status, content_type, body, extra = endpoint.render_metrics(
                    self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")
                )
            elif path in HEALTH_PATHS:
                status, payload = endpoint.health(path)
                content_type = "application/json"
                body, extra = json.dumps(payload).encode(), {"Cache-Control": "no-store"}
            elif endpoint.traces is not None and path.split("/", 2)[1] == "traces":
                accept = self.headers.get("Accept", "")
                status, content_type, body = endpoint.traces(self.path, accept)
                extra = {"Cache-Control": "no-store", "Vary": "Accept"}
            else:
                status, content_type, extra = 404, "application/json", {}
                traces = ["/traces"] if endpoint.traces is not None else []
                body = json.dumps(
                    {"error": "not found", "paths": ["/metrics", *traces, *HEALTH_PATHS]}
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
        basic_auth: tuple[str, SecretStr] | None = None,
        tls: tuple[Path, Path] | None = None,
        scrape_stats: Sequence[ExportStats] = (),
        traces: TracesResponder | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self._health = health
        self._port_setting = port_setting
        # Only a digest of the credentials is kept: the password itself stays in the settings.
        self._credentials = (
            None
            if basic_auth is None
            else _credentials_digest(basic_auth[0], basic_auth[1].get_secret_value())
        )
        self._tls = tls
        self._scrape_stats = tuple(scrape_stats)
        #: Answers /traces and /traces/<id> (see traces_page.respond); None: not served.
        self.traces = traces
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.scrapes = 0
        self.last_scrape: float | None = None

    @property
    def tls(self) -> bool:
        return self._tls is not None

    @property
    def basic_auth(self) -> bool:
        return self._credentials is not None

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
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def authorized(self, header: str | None) -> bool:
        """Whether an Authorization header carries the configured credentials (or none are)."""
        expected = self._credentials
        if expected is None:
            return True
        scheme, _, encoded = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(hashlib.sha256(given).digest(), expected)

    def start(self) -> bool:
        """Bind and serve in a daemon thread; on a bind error log one warning and return False."""
        try:
            family = _address_family(self.host, self.requested_port)
            server_class = type("_BoundServer", (_Server,), {"address_family": family})
            server = server_class((self.host, self.requested_port), _Handler)
            if self._tls is not None:
                server.tls_context = _tls_context(*self._tls)
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
        self._warn_if_exposed(str(server.server_address[0]))
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

    def _warn_if_exposed(self, address: str) -> None:
        if _is_loopback(address):
            return
        if self._credentials is None:
            _logger.warning(
                "pywats_otel: /metrics and /health listen on %s:%d, beyond this machine, "
                "without authentication; set PYWATS_OTEL_ENDPOINT_USERNAME and "
                "PYWATS_OTEL_ENDPOINT_PASSWORD (and TLS) or bind to localhost",
                self.host,
                self.port,
            )
        elif self._tls is None:
            _logger.warning(
                "pywats_otel: /metrics and /health listen on %s:%d with basic auth but without "
                "TLS, so the password crosses the network readable; set "
                "PYWATS_OTEL_ENDPOINT_TLS_CERT and PYWATS_OTEL_ENDPOINT_TLS_KEY",
                self.host,
                self.port,
            )

    def render_metrics(
        self, accept: str, accept_encoding: str
    ) -> tuple[int, str, bytes, dict[str, str]]:
        """The registry in the format the scraper asked for (text or OpenMetrics), maybe gzipped.

        Each scrape counts as one export of the Prometheus exporter: the samples served, or a
        failure with its message.
        """
        encoder, content_type = choose_encoder(accept)
        counted = _ServedRegistry(self.registry)
        try:
            body: bytes = encoder(counted)
        except Exception as exc:
            for stats in self._scrape_stats:
                stats.record_failure(0, f"rendering /metrics failed: {type(exc).__name__}: {exc}")
            raise
        for stats in self._scrape_stats:
            stats.record_success(counted.samples)
        self.scrapes += 1
        self.last_scrape = time.time()
        if "gzip" in accept_encoding:
            return 200, content_type, gzip.compress(body), {"Content-Encoding": "gzip"}
        return 200, content_type, body, {}

    def health(self, path: str) -> tuple[int, dict[str, Any]]:
        return self._health(path)


class _ServedRegistry:
    """The registry as /metrics serves it.

    - One family per name, one sample per name and labels, the newest value winning: the
      Prometheus reader also queues the data of collections made outside a scrape (a
      MeterProvider.force_flush()) and would otherwise serve those stale copies beside the
      fresh ones, which Prometheus drops as duplicates, keeping the stale one.
    - The few gauges whose OpenTelemetry name ends in ``.count`` get the name Prometheus
      expects (``_count`` belongs to histograms and summaries; promtool rejects it elsewhere).
    - It counts the samples served, the Prometheus exporter's "exported" items.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self.samples = 0

    def collect(self) -> Iterator[Metric]:
        families: dict[str, list[Metric]] = {}
        # Names whose samples may repeat: a family yielded again (the reader adds a later
        # collection's samples to the family object it yielded before) or several families
        # of one name. Only those pay for merging; a scrape after a scrape has none.
        repeated: set[str] = set()
        for collected in self._registry.collect():
            name = collected.name
            seen = families.get(name)
            if seen is None:
                families[name] = [collected]
                continue
            repeated.add(name)
            if not any(family is collected for family in seen):
                seen.append(collected)
        for name, found in families.items():
            metric = _merged(found) if name in repeated else found[0]
            new_name = semconv.PROMETHEUS_RENAMES.get(name)
            if new_name is not None and metric.type in ("gauge", "unknown"):
                metric = _renamed(metric, new_name)
            self.samples += len(metric.samples)
            yield metric


def _merged(families: list[Metric]) -> Metric:
    samples = [sample for family in families for sample in family.samples]
    unique = {(sample.name, tuple(sorted(sample.labels.items()))): sample for sample in samples}
    if len(families) == 1 and len(unique) == len(samples):
        return families[0]
    merged = Metric(families[0].name, families[0].documentation, families[0].type, families[0].unit)
    merged.samples = list(unique.values())
    return merged


def _renamed(metric: Metric, name: str) -> Metric:
    renamed = Metric(name, metric.documentation, metric.type, metric.unit)
    renamed.samples = [
        sample._replace(name=name + sample.name[len(metric.name) :]) for sample in metric.samples
    ]
    return renamed


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return address == "localhost"


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
