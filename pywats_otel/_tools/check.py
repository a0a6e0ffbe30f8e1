"""``pywats-otel check``: the settings in effect and where each came from, where each signal
goes, then whether each signal's collector takes an export and whether the Prometheus port is
free, with what to change when not."""

from __future__ import annotations

import base64
import errno
import http.client
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO, cast
from urllib.parse import urlsplit

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._base.redact import printable, scrub, split_credentials
from pywats_otel._config.effective import destinations, effective_rows, render_rows
from pywats_otel._config.loader import load_settings
from pywats_otel._config.otlp import OTLPOptions, diagnose, import_grpc, otlp_options
from pywats_otel._config.settings import SIGNALS, TelemetrySettings

if TYPE_CHECKING:
    from pywats_otel._config.settings import Signal

__all__ = ["Finding", "check_otlp", "check_prometheus_port", "run_check"]

_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Finding:
    """One result of ``check``: ``ok`` false means the user has something to change."""

    what: str
    ok: bool
    message: str


def _otlp_signals(settings: TelemetrySettings) -> list[Signal]:
    return [
        signal
        for signal in cast("tuple[Signal, ...]", SIGNALS)
        if "otlp" in settings.exporters(signal)
    ]


def _headers_setting(options: OTLPOptions) -> str:
    source = options.sources["headers"]
    return source.split(" (", 1)[0]


def _with(message: str, diagnosis: str | None) -> str:
    return f"{message}; {diagnosis}" if diagnosis else message


def check_otlp(settings: TelemetrySettings, signal: Signal = "traces") -> Finding:
    """Send an empty export of ``signal`` to its collector, as the exporter would, and read
    the answer; a failure gets the destination's diagnosis."""
    options = otlp_options(settings, signal)
    what = f"OTLP {signal} collector ({options.protocol} {options.shown_endpoint})"
    try:
        export = _grpc_export if options.protocol == "grpc" else _http_export
        message = export(options)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, not a crash
        message = _with(f"{type(exc).__name__}: {printable(str(exc))}", diagnose(options))
    if message is None:
        return Finding(what, True, "accepts exports")
    return Finding(what, False, scrub(printable(message), 1000))


_GRPC_SERVICES = {
    "traces": ("trace", "TraceService", "ExportTraceServiceRequest"),
    "metrics": ("metrics", "MetricsService", "ExportMetricsServiceRequest"),
    "logs": ("logs", "LogsService", "ExportLogsServiceRequest"),
}


def _grpc_export(options: OTLPOptions) -> str | None:
    import importlib

    grpc = import_grpc()
    module, service, request = _GRPC_SERVICES[options.signal]
    messages = importlib.import_module(
        f"opentelemetry.proto.collector.{module}.v1.{module}_service_pb2"
    )
    stubs = importlib.import_module(
        f"opentelemetry.proto.collector.{module}.v1.{module}_service_pb2_grpc"
    )
    parts = urlsplit(options.endpoint)
    target = parts.netloc or options.endpoint
    if options.insecure:
        channel = grpc.insecure_channel(target)
    else:

        def read(path: object) -> bytes | None:
            return path.read_bytes() if path is not None else None  # type: ignore[attr-defined]

        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(options.certificate),
            private_key=read(options.client_key),
            certificate_chain=read(options.client_certificate),
        )
        channel = grpc.secure_channel(target, credentials)
    with channel:
        stub = getattr(stubs, f"{service}Stub")(channel)
        try:
            stub.Export(
                getattr(messages, request)(),
                metadata=tuple(options.headers.items()),
                timeout=_TIMEOUT_S,
            )
        except grpc.RpcError as error:
            code = error.code()
            details = printable(error.details() or "")
            credentials_hint = (
                f"the collector refused the credentials: check {_headers_setting(options)}"
            )
            hint = {
                "UNAUTHENTICATED": credentials_hint,
                "PERMISSION_DENIED": credentials_hint,
                "UNIMPLEMENTED": f"the collector has no OTLP {options.signal} receiver there",
            }.get(code.name)
            if hint is None and code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN"):
                hint = diagnose(options)
            return f"{code.name}: {details}" + (f"; {hint}" if hint else "")
    return None


def _http_context(options: OTLPOptions) -> ssl.SSLContext | None:
    if not options.endpoint.startswith("https://"):
        return None
    context = ssl.create_default_context(
        cafile=str(options.certificate) if options.certificate else None
    )
    if options.client_key is not None and options.client_certificate is not None:
        context.load_cert_chain(str(options.client_certificate), str(options.client_key))
    return context


def _http_export(options: OTLPOptions) -> str | None:
    # The exporter (requests) sends the URL's user:password@ as Basic auth; urllib does not.
    endpoint, credentials = split_credentials(options.endpoint)
    headers = dict(options.headers)
    if credentials is not None:
        headers["authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    # The endpoint setting is validated to be an http:// or https:// URL.
    request = urllib.request.Request(  # noqa: S310
        endpoint,
        data=b"",  # an empty Export*ServiceRequest encodes to no bytes
        headers={"Content-Type": "application/x-protobuf", **headers},
        method="POST",
    )
    try:
        # The URL is the validated http(s) endpoint setting.
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=_TIMEOUT_S, context=_http_context(options)
        ) as response:
            response.read()
    except urllib.error.HTTPError as error:
        credentials = f"the collector refused the credentials: check {_headers_setting(options)}"
        where = options.sources["endpoint"]
        hint = {
            401: credentials,
            403: credentials,
            404: "wrong path: give the base URL (e.g. http://collector:4318) as otlp_endpoint, "
            f"pywats_otel adds /v1/{options.signal}; a per-signal endpoint is used as is "
            f"(this one: {where})",
        }.get(error.code, "")
        return f"HTTP {error.code}" + (f"; {hint}" if hint else "")
    except urllib.error.URLError as error:
        reason = error.reason
        text = f"{type(reason).__name__}: {reason}" if isinstance(reason, Exception) else reason
        return _with(printable(str(text)), diagnose(options))
    except (http.client.HTTPException, ConnectionError, ssl.SSLError) as error:
        return _with(f"{type(error).__name__}: {printable(str(error))}", diagnose(options))
    return None


def check_prometheus_port(settings: TelemetrySettings) -> Finding:
    """Whether the endpoint could bind its port, and if not, who holds it."""
    host, port = settings.prometheus_host, settings.prometheus_port
    what = f"Prometheus endpoint ({host}:{port})"
    if port == 0:
        return Finding(what, True, "port 0: a free port is picked at start-up")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return Finding(what, False, f"cannot listen there: {exc.strerror}")
        return Finding(what, False, _who_holds(host, port))
    return Finding(what, True, "free")


def _who_holds(host: str, port: int) -> str:
    advice = "set PYWATS_OTEL_PROMETHEUS_PORT to a free port (9464, for example)"
    url = f"http://{host}:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            server = response.headers.get("Server", "")
            body = response.read(1_000_000).decode("utf-8", "replace")
    except (OSError, ValueError):
        return f"port {port} is in use by a program that does not serve /metrics; {advice}"
    if server.startswith("pywats-otel"):
        return (
            f"port {port} already serves pywats_otel's /metrics (another station process?); "
            f"{advice}"
        )
    if "prometheus_build_info" in body:
        return f"port {port} is the Prometheus server's own (its default is 9090 too); {advice}"
    return f"port {port} already serves /metrics of another program; {advice}"


def notes(settings: TelemetrySettings) -> list[str]:
    """What start-up would warn about without refusing: misspelt variables, endpoint paths."""
    found = list(settings.notes)
    for signal in _otlp_signals(settings):
        note = otlp_options(settings, signal).note
        if note is not None and note not in found:
            found.append(note)
    return found


def run_check(out: TextIO, err: TextIO) -> int:
    """0: all good; 1: something to change (printed); 2: a setting is refused."""
    try:
        settings = load_settings()
    except TelemetryConfigError as exc:
        err.write(f"pywats-otel check: {exc}\n")
        return 2
    out.write("settings (value in effect, [source]):\n")
    out.write("".join(line + "\n" for line in render_rows(effective_rows(settings), "  ")))
    out.write("where each signal goes:\n")
    out.write("".join(line + "\n" for line in render_rows(destinations(settings), "  ")))
    warnings = notes(settings)
    findings: list[Finding] = []
    if not settings.enabled:
        findings.append(Finding("telemetry", True, "disabled: nothing starts"))
    else:
        findings += [check_otlp(settings, signal) for signal in _otlp_signals(settings)]
        if "prometheus" in settings.exporters("metrics"):
            findings.append(check_prometheus_port(settings))
    out.write("checks:\n")
    for note in warnings:
        out.write(f"  WARN {note}\n")
    for finding in findings:
        mark = "ok  " if finding.ok else "FAIL"
        out.write(f"  {mark} {finding.what}: {finding.message}\n")
    if not findings:
        out.write("  nothing to check: no OTLP exporter and no Prometheus endpoint\n")
    return 0 if all(finding.ok for finding in findings) else 1
