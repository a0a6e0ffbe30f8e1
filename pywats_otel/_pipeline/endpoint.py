"""The small HTTP endpoint on prometheus_host:prometheus_port: /metrics, /traces, /health*.

One port serves the scrape and the health probes, through the small asyncio server of
``http_server`` (a total deadline per request, a cap on the threads that answer, the system's
listen backlog). A port that is taken is a warning, not a crash: the endpoint then reports
itself as not serving. Optional HTTP basic auth (compared in constant time) and TLS.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
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
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.exposition import choose_encoder

from pywats_otel import semconv
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._pipeline import cardinality, http_server
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


def _credentials_digest(username: str, password: str) -> bytes:
    # Digests have one length, so the comparison takes the same time for any guess.
    return hashlib.sha256(f"{username}:{password}".encode()).digest()


def _answer_error(status: int, error: str, **extra: Any) -> http_server.Answer:
    return status, "application/json", json.dumps({"error": error, **extra}).encode(), {}


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
        host_setting: str = "PYWATS_OTEL_PROMETHEUS_HOST",
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
        self._host_setting = host_setting
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
        self._server: http_server.HttpServer | None = None
        self._listener: socket.socket | None = None
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
        if self._listener is not None:
            with contextlib.suppress(OSError):
                return int(self._listener.getsockname()[1])
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
            listener = _listen(self.host, self.requested_port)
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
                    "served; check %s and %s.",
                    self.host,
                    self.requested_port,
                    exc.strerror or exc,
                    self._host_setting,
                    self._port_setting,
                )
            return False
        try:
            tls = _tls_context(*self._tls) if self._tls is not None else None
            server = http_server.HttpServer(listener, self._answer, self._inline, tls)
            server.start()
        except Exception:
            listener.close()
            raise
        self._listener, self._server = listener, server
        self._warn_if_exposed(str(listener.getsockname()[0]))
        return True

    def stop(self, timeout_s: float = 1.0) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout_s)
        self._listener = None

    def forget_after_fork(self) -> None:
        """In a forked child: not serving (the server's thread stayed in the parent), and the
        inherited listening socket closed, so that the port stays the parent's alone."""
        server, self._server = self._server, None
        if server is not None:
            server.forget_after_fork()
        self._listener = None
        self.error = "not served in a forked child process (the parent serves the port)"

    @property
    def open_connections(self) -> int:
        return self._server.open_connections if self._server is not None else 0

    def _inline(self, request: http_server.Request) -> http_server.Answer | None:
        # Liveness needs no work: answered on the server's loop, even with every worker busy.
        if request.path.rstrip("/") == "/health/live":
            return self._answer(request)
        return None

    def _answer(self, request: http_server.Request) -> http_server.Answer:
        path = request.path.rstrip("/") or "/"
        headers = request.headers
        if not self.authorized(headers.get("authorization")):
            status, content_type, body, _ = _answer_error(401, "unauthorized")
            return status, content_type, body, {"WWW-Authenticate": _REALM}
        if path == "/metrics":
            return self.render_metrics(
                headers.get("accept", ""), headers.get("accept-encoding", "")
            )
        if path in HEALTH_PATHS:
            status, payload = self.health(path)
            body = json.dumps(payload).encode()
            return status, "application/json", body, {"Cache-Control": "no-store"}
        traces = self.traces
        if traces is not None and path.split("/", 2)[1] == "traces":
            status, content_type, body = traces(request.target, headers.get("accept", ""))
            return status, content_type, body, {"Cache-Control": "no-store", "Vary": "Accept"}
        listed = ["/metrics", *(["/traces"] if traces is not None else []), *HEALTH_PATHS]
        return _answer_error(404, "not found", paths=listed)

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
        failure with its message. A family that cannot be rendered (text that is not UTF-8
        from a collector of the program's own, say) is rendered cleaned or left out, never
        failing the others.
        """
        encoder, content_type = choose_encoder(accept)
        served = _ServedRegistry(self.registry)
        try:
            families = list(served.collect())
            try:
                body: bytes = encoder(_Families(families))
            except Exception:  # noqa: BLE001 - rendered again family by family below
                body = self._render_each(encoder, content_type, families)
        except Exception as exc:
            for stats in self._scrape_stats:
                stats.record_failure(0, f"rendering /metrics failed: {type(exc).__name__}: {exc}")
            raise
        for stats in self._scrape_stats:
            stats.record_success(served.samples)
        self.scrapes += 1
        self.last_scrape = time.time()
        if "gzip" in accept_encoding:
            # Level 1: a fifth of the default level's CPU for a body a quarter larger (an idle
            # station's scrape of 140 series: 0.4 ms against 1.6 ms).
            compressed = gzip.compress(body, compresslevel=1)
            return 200, content_type, compressed, {"Content-Encoding": "gzip"}
        return 200, content_type, body, {}

    def _render_each(
        self, encoder: Callable[[Any], bytes], content_type: str, families: list[Metric]
    ) -> bytes:
        end = b"# EOF\n"
        pieces: list[bytes] = []
        for family in families:
            try:
                try:
                    piece = encoder(_Families([family]))
                except UnicodeEncodeError:
                    piece = encoder(_Families([_cleaned(family)]))
            except Exception as exc:  # noqa: BLE001 - this family is left out, not the scrape
                message = f"{family.name} is left out of /metrics: {type(exc).__name__}: {exc}"
                for stats in self._scrape_stats:
                    stats.note_error(message)
                warn_once(("metrics-family", family.name), "pywats_otel: %s", message)
                continue
            pieces.append(piece.removesuffix(end))
        if content_type.startswith("application/openmetrics-text"):
            pieces.append(end)
        return b"".join(pieces)

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


class _Families:
    """Families already collected, as the registry an encoder of prometheus_client reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _cleaned(family: Metric) -> Metric:
    """``family`` with every text that is not UTF-8 written with backslash escapes (counted)."""

    def clean(text: str) -> str:
        return cardinality.cleaned_and_counted(text, family.name, "prometheus")

    cleaned = Metric(family.name, clean(family.documentation), family.type, family.unit)
    cleaned.samples = [
        sample._replace(
            name=clean(sample.name),
            labels={clean(key): clean(value) for key, value in sample.labels.items()},
        )
        for sample in family.samples
    ]
    return cleaned


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


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port); ``listen()`` is the server's, with its backlog."""
    family = _address_family(host, port)
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "nt":  # pragma: no cover - Windows only
            # SO_REUSEADDR would let two processes share the port there.
            exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
            if exclusive is not None:
                listener.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            # A restarted station binds while old connections linger in TIME_WAIT.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except BaseException:
        listener.close()
        raise
    return listener


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
