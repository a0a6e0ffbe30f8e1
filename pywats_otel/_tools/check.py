"""``pywats-otel check``: the effective settings and where each came from, then whether the
collector answers and whether the Prometheus port is free, with what to change when not."""

from __future__ import annotations

import base64
import errno
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._base.redact import redact_url, scrub, split_credentials
from pywats_otel._config.exporters import otlp_endpoint
from pywats_otel._config.loader import load_settings
from pywats_otel._config.settings import TelemetrySettings

__all__ = ["Finding", "check_otlp", "check_prometheus_port", "run_check"]

_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Finding:
    """One result of ``check``: ``ok`` false means the user has something to change."""

    what: str
    ok: bool
    message: str


def _uses(settings: TelemetrySettings, exporter: str) -> bool:
    return any(exporter in settings.exporters(signal) for signal in ("traces", "metrics", "logs"))


def check_otlp(settings: TelemetrySettings) -> Finding:
    """Send an empty trace export to the collector, as the exporter would, and read the answer."""
    endpoint = otlp_endpoint(settings, "traces")
    shown = redact_url(endpoint)
    what = f"OTLP collector ({settings.otlp_protocol} {shown})"
    headers = {name: value.get_secret_value() for name, value in settings.otlp_headers.items()}
    try:
        if settings.otlp_protocol == "grpc":
            message = _grpc_export(settings, endpoint, headers)
        else:
            message = _http_export(settings, endpoint, headers)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, not a crash
        return Finding(what, False, scrub(f"{type(exc).__name__}: {exc}"))
    if message is None:
        return Finding(what, True, "accepts exports")
    return Finding(what, False, scrub(message))


def _grpc_export(settings: TelemetrySettings, endpoint: str, headers: dict[str, str]) -> str | None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    parts = urlsplit(endpoint)
    target = parts.netloc or endpoint
    insecure = settings.otlp_insecure
    if insecure is None:
        insecure = parts.scheme == "http"
    if insecure:
        channel = grpc.insecure_channel(target)
    else:
        root = settings.otlp_certificate.read_bytes() if settings.otlp_certificate else None
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root))
    with channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.Export(
                trace_service_pb2.ExportTraceServiceRequest(),
                metadata=tuple(headers.items()),
                timeout=_TIMEOUT_S,
            )
        except grpc.RpcError as error:
            code = error.code()
            details = error.details()
            hint = {
                grpc.StatusCode.UNAVAILABLE: "nothing answers there: is the collector running, "
                "and is the port its OTLP gRPC receiver (4317)?",
                grpc.StatusCode.DEADLINE_EXCEEDED: f"no answer within {_TIMEOUT_S:.0f} s",
                grpc.StatusCode.UNAUTHENTICATED: "the collector refused the credentials: check "
                "PYWATS_OTEL_OTLP_HEADERS",
            }.get(code, "")
            return f"{code.name}: {details}" + (f"; {hint}" if hint else "")
    return None


def _http_export(settings: TelemetrySettings, endpoint: str, headers: dict[str, str]) -> str | None:
    # The exporter (requests) sends the URL's user:password@ as Basic auth; urllib does not.
    endpoint, credentials = split_credentials(endpoint)
    if credentials is not None:
        headers = {
            **headers,
            "authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
        }
    # The endpoint setting is validated to be an http:// or https:// URL.
    request = urllib.request.Request(  # noqa: S310
        endpoint,
        data=b"",  # an empty ExportTraceServiceRequest encodes to no bytes
        headers={"Content-Type": "application/x-protobuf", **headers},
        method="POST",
    )
    context = None
    if endpoint.startswith("https://"):
        context = ssl.create_default_context(
            cafile=str(settings.otlp_certificate) if settings.otlp_certificate else None
        )
    try:
        # The URL is the validated http(s) endpoint setting.
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S, context=context) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        hint = {
            401: "the collector refused the credentials: check PYWATS_OTEL_OTLP_HEADERS",
            403: "the collector refused the credentials: check PYWATS_OTEL_OTLP_HEADERS",
            404: "wrong path: give the base URL (e.g. http://collector:4318); pywats_otel "
            "adds /v1/traces",
        }.get(error.code, "")
        return f"HTTP {error.code}" + (f"; {hint}" if hint else "")
    except urllib.error.URLError as error:
        return (
            f"{error.reason}; is the collector running, and is the port its OTLP HTTP "
            "receiver (4318)?"
        )
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


def run_check(out: TextIO, err: TextIO) -> int:
    """0: all good; 1: something to change (printed); 2: a setting is refused."""
    try:
        settings = load_settings()
    except TelemetryConfigError as exc:
        err.write(f"pywats-otel check: {exc}\n")
        return 2
    values = settings.redacted()
    width = max(len(name) for name in values)
    out.write("settings (value, source):\n")
    for name, value in values.items():
        out.write(f"  {name:<{width}}  {value!r}  [{settings.source_of(name)}]\n")

    findings: list[Finding] = []
    if not settings.enabled:
        findings.append(Finding("telemetry", True, "disabled: nothing starts"))
    else:
        if _uses(settings, "otlp"):
            findings.append(check_otlp(settings))
        if "prometheus" in settings.exporters("metrics"):
            findings.append(check_prometheus_port(settings))
    out.write("checks:\n")
    for finding in findings:
        mark = "ok  " if finding.ok else "FAIL"
        out.write(f"  {mark} {finding.what}: {finding.message}\n")
    if not findings:
        out.write("  nothing to check: no OTLP exporter and no Prometheus endpoint\n")
    return 0 if all(finding.ok for finding in findings) else 1
