"""Every setting of pywats_otel, declared once: type, variables, default, doc, accepted values.

The docs' table, ``pywats-otel settings`` and the ``init_telemetry()`` keyword arguments
(``SettingsKwargs``) all come from these declarations; ``loader.load_settings()`` resolves
them. Each validator turns the text of an environment variable into the field's type.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from pywats_otel import semconv
from pywats_otel._base.redact import redact_url, url_secrets
from pywats_otel._base.text import is_utf8
from pywats_otel._config.exporters import available_exporters

__all__ = [
    "SIGNALS",
    "SettingInfo",
    "TelemetrySettings",
    "parse_bool",
    "setting_infos",
]

SIGNALS = ("traces", "metrics", "logs")
Signal = Literal["traces", "metrics", "logs"]

SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
KNOWN_INSTRUMENTATIONS = ("httpx", "logging", "pywats", "system", "threading")
#: Always on by default; pywats as well when pywats-api is installed.
_DEFAULT_INSTRUMENTATIONS = ("httpx", "logging", "system", "threading")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# An environment name that starts with "!" holds the inverse of the boolean setting
# (OTEL_SDK_DISABLED=true means enabled=false).
INVERSE_PREFIX = "!"
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_GRPC_HEADER_NAME = re.compile(r"^[0-9a-z_.\-]+$")
# Visible ASCII and spaces: what both an HTTP/1.1 field value and gRPC metadata can carry.
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")
# A "%" not followed by two hex digits: unquote() would keep it literally.
_BAD_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_RESOURCE_KEY = re.compile(r"^[^\s,=]+$")


def parse_bool(text: str) -> bool | None:
    """``true`` or ``false`` in any case (blanks around ignored) as a bool; anything else None.

    The one reading of a boolean setting: environment text, TOML and keyword arguments alike
    (pydantic alone would also take yes, on, 1 and t).
    """
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _default_instrumentations() -> tuple[str, ...]:
    import importlib.util

    if importlib.util.find_spec("pywats") is None:
        return _DEFAULT_INSTRUMENTATIONS
    return tuple(sorted((*_DEFAULT_INSTRUMENTATIONS, "pywats")))


def _host_version() -> str | None:
    """The installed pyWATS version, when pyWATS is what this process runs."""
    for distribution in ("pywats-api", "pywats"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _setting(
    default: Any = None,
    *,
    env: tuple[str, ...],
    doc: str,
    accepted: str | None = None,
    default_doc: str | None = None,
    secret: bool = False,
    url: bool = False,
    default_factory: Callable[[], Any] | None = None,
    validate_default: bool = False,
    ge: float | None = None,
    le: float | None = None,
    unit: str | None = None,
    accepted_note: str | None = None,
) -> Any:
    """Declare one setting.

    ``ge`` and ``le`` bound a number (pydantic enforces them); the accepted-values text is then
    derived from them, the field's type and ``unit`` (e.g. "an integer from 0 to 65535"), with
    ``accepted_note`` appended. Otherwise ``accepted`` says it in words.

    ``url`` marks a URL: wherever it is shown (``redacted()``, an error), it goes through
    ``redact_url()`` first, and the loader registers its secrets for ``scrub()``.

    ``validate_default`` runs the field's validators even when the setting is not given; the
    second setting of a pair (password after user name, key after certificate) uses it to check
    that both or neither are set, reading the first from the values validated before it.
    """
    if (accepted is None) == (ge is None or le is None):
        raise TypeError("a setting declares either accepted= or both ge= and le=")
    extra: dict[str, Any] = {
        "pywats_env": list(env),
        "pywats_accepted": accepted,
        "pywats_unit": unit,
        "pywats_accepted_note": accepted_note,
        "pywats_default_doc": default_doc,
        "pywats_secret": secret,
        "pywats_url": url,
    }
    # Passed only when set: Field's typed overloads tell validate_default=True apart.
    options: dict[str, Any] = {"validate_default": True} if validate_default else {}
    if ge is not None:
        options["ge"] = ge
    if le is not None:
        options["le"] = le
    if default_factory is not None:
        return Field(
            default_factory=default_factory, description=doc, json_schema_extra=extra, **options
        )
    return Field(default, description=doc, json_schema_extra=extra, **options)


#: The OTLP options each signal may set for itself (OTEL_EXPORTER_OTLP_<SIGNAL>_<OPTION>):
#: option -> (what it is, what is accepted, extra declaration arguments).
_SIGNAL_OPTIONS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "endpoint": (
        "Collector URL of {signal}, used as is (no /v1/{signal} added)",
        "an http:// or https:// URL",
        {},
    ),
    "protocol": ("OTLP transport of {signal}", "grpc or http/protobuf", {}),
    "headers": (
        "Headers of {signal} exports, instead of otlp_headers; secret",
        "key=value pairs separated by commas, values percent-encoded",
        {"secret": True},
    ),
    "timeout": (
        "Deadline of one {signal} export, in milliseconds",
        None,
        {"ge": 1, "le": 600_000, "unit": "milliseconds"},
    ),
    "compression": ("Compression of {signal} exports", "none or gzip", {}),
    "certificate": (
        "PEM file of the CA of the {signal} collector's certificate",
        "the path of an existing file",
        {},
    ),
    "client_key": (
        "PEM private key of the client certificate for {signal} (mTLS)",
        "the path of an existing file, together with the client certificate",
        {},
    ),
    "client_certificate": (
        "PEM client certificate (chain) for {signal} (mTLS)",
        "the path of an existing file, together with the client key",
        {},
    ),
    "insecure": ("gRPC without TLS for {signal}", "true or false", {}),
}


def _signal_setting(signal: str, option: str) -> Any:
    """The per-signal twin of ``otlp_<option>``: unset means "as ``otlp_<option>``"."""
    doc, accepted, extra = _SIGNAL_OPTIONS[option]
    name = f"OTLP_{signal.upper()}_{option.upper()}"
    return _setting(
        env=(f"PYWATS_OTEL_{name}", f"OTEL_EXPORTER_{name}"),
        doc=doc.format(signal=signal) + "; unset: as otlp_" + option + ".",
        accepted=accepted,
        default_doc="unset",
        **extra,
    )


class TelemetrySettings(BaseModel):
    """The resolved configuration of pywats_otel; immutable once loaded.

    Build it with :func:`load_settings` (what ``init_telemetry()`` does) to get the precedence
    and the source of each value; constructing it directly validates the values only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    enabled: bool = _setting(
        True,
        env=("PYWATS_OTEL_ENABLED", "!OTEL_SDK_DISABLED"),
        doc="Master switch; when false nothing starts: no thread, no socket, every call a no-op.",
        accepted="true or false",
    )
    service_name: str = _setting(
        "pywats",
        env=("PYWATS_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
        doc="Resource attribute service.name: the station or program, e.g. station-7.",
        accepted="a non-empty string",
        default_doc="`pywats`",
    )
    service_version: str | None = _setting(
        env=("PYWATS_OTEL_SERVICE_VERSION",),
        doc="Resource attribute service.version.",
        accepted="a string",
        default_doc="the installed pywats-api version, if any",
        default_factory=_host_version,
    )
    environment: str | None = _setting(
        env=("PYWATS_OTEL_ENVIRONMENT",),
        doc="Resource attribute deployment.environment.name, e.g. production.",
        accepted="a string",
        default_doc="unset",
    )
    resource_attributes: dict[str, str] = _setting(
        default_factory=dict,
        env=("PYWATS_OTEL_RESOURCE_ATTRIBUTES", "OTEL_RESOURCE_ATTRIBUTES"),
        doc="Extra resource attributes; the named settings above win over the same keys here.",
        accepted="key=value pairs separated by commas, values percent-encoded",
        default_doc="none",
    )
    traces_exporter: tuple[str, ...] | None = _setting(
        env=("PYWATS_OTEL_TRACES_EXPORTER", "OTEL_TRACES_EXPORTER"),
        doc="Where spans go; each exporter gets its own BatchSpanProcessor. tree prints each "
        "trace as an indented tree when its root ends; console prints the SDK's JSON.",
        accepted="comma list of otlp, console, tree, registered exporters; or none",
        default_doc="otlp if an OTLP endpoint (general or of the signal) is set, else none",
    )
    metrics_exporter: tuple[str, ...] | None = _setting(
        env=("PYWATS_OTEL_METRICS_EXPORTER", "OTEL_METRICS_EXPORTER"),
        doc="Where metrics go; each exporter gets its own reader.",
        accepted="comma list of prometheus, otlp, console, registered exporters; or none",
        default_doc="prometheus, plus otlp if an OTLP endpoint (general or of metrics) is set",
    )
    logs_exporter: tuple[str, ...] | None = _setting(
        env=("PYWATS_OTEL_LOGS_EXPORTER", "OTEL_LOGS_EXPORTER"),
        doc="Where log records go; anything but none adds a handler to the root logger.",
        accepted="comma list of otlp, console, registered exporters; or none",
        default_doc="otlp if an OTLP endpoint (general or of the signal) is set, else none",
    )
    otlp_protocol: Literal["grpc", "http/protobuf"] = _setting(
        "grpc",
        env=("PYWATS_OTEL_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        doc="OTLP transport.",
        accepted="grpc or http/protobuf",
        default_doc="`grpc`",
    )
    otlp_endpoint: str | None = _setting(
        env=("PYWATS_OTEL_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        doc="Collector URL; for http/protobuf the signal paths /v1/traces etc. are appended. "
        "Shown with credentials and sensitive query values redacted.",
        accepted="an http:// or https:// URL; user:password@ for http/protobuf only",
        default_doc="unset (an otlp exporter then uses localhost:4317 or :4318)",
        url=True,
    )
    otlp_headers: dict[str, SecretStr] = _setting(
        default_factory=dict,
        env=("PYWATS_OTEL_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
        doc="Headers sent with every export (API keys); secret, never logged or shown.",
        accepted="key=value pairs separated by commas, values percent-encoded",
        default_doc="none",
        secret=True,
    )
    otlp_timeout: int = _setting(
        10000,
        env=("PYWATS_OTEL_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        doc="Deadline of one export, retries included, in milliseconds (the OTLP spec's unit).",
        ge=1,
        le=600_000,
        unit="milliseconds",
        default_doc="10000",
    )
    otlp_compression: Literal["none", "gzip"] = _setting(
        "none",
        env=("PYWATS_OTEL_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
        doc="Compression of OTLP requests.",
        accepted="none or gzip",
        default_doc="`none`",
    )
    otlp_certificate: Path | None = _setting(
        env=("PYWATS_OTEL_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        doc="PEM file of the CA that signed the collector's TLS certificate.",
        accepted="the path of an existing file",
        default_doc="unset: the system's trusted CAs",
    )
    otlp_client_key: Path | None = _setting(
        env=("PYWATS_OTEL_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        doc="PEM private key of the client certificate that the collector asks for (mTLS).",
        accepted="the path of an existing file, together with otlp_client_certificate",
        default_doc="unset: no client certificate",
    )
    otlp_client_certificate: Path | None = _setting(
        env=("PYWATS_OTEL_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
        doc="PEM client certificate (chain) shown to the collector (mTLS).",
        accepted="the path of an existing file, together with otlp_client_key",
        default_doc="unset",
        validate_default=True,
    )
    otlp_insecure: bool | None = _setting(
        env=("PYWATS_OTEL_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"),
        doc="gRPC without TLS; by default taken from the endpoint's scheme (http: insecure).",
        accepted="true or false",
        default_doc="from the endpoint scheme",
    )
    # The per-signal OTLP options of the specification, each over its general one.
    otlp_traces_endpoint: str | None = _signal_setting("traces", "endpoint")
    otlp_traces_protocol: Literal["grpc", "http/protobuf"] | None = _signal_setting(
        "traces", "protocol"
    )
    otlp_traces_headers: dict[str, SecretStr] | None = _signal_setting("traces", "headers")
    otlp_traces_timeout: int | None = _signal_setting("traces", "timeout")
    otlp_traces_compression: Literal["none", "gzip"] | None = _signal_setting(
        "traces", "compression"
    )
    otlp_traces_certificate: Path | None = _signal_setting("traces", "certificate")
    otlp_traces_client_key: Path | None = _signal_setting("traces", "client_key")
    otlp_traces_client_certificate: Path | None = _signal_setting("traces", "client_certificate")
    otlp_traces_insecure: bool | None = _signal_setting("traces", "insecure")
    otlp_metrics_endpoint: str | None = _signal_setting("metrics", "endpoint")
    otlp_metrics_protocol: Literal["grpc", "http/protobuf"] | None = _signal_setting(
        "metrics", "protocol"
    )
    otlp_metrics_headers: dict[str, SecretStr] | None = _signal_setting("metrics", "headers")
    otlp_metrics_timeout: int | None = _signal_setting("metrics", "timeout")
    otlp_metrics_compression: Literal["none", "gzip"] | None = _signal_setting(
        "metrics", "compression"
    )
    otlp_metrics_certificate: Path | None = _signal_setting("metrics", "certificate")
    otlp_metrics_client_key: Path | None = _signal_setting("metrics", "client_key")
    otlp_metrics_client_certificate: Path | None = _signal_setting("metrics", "client_certificate")
    otlp_metrics_insecure: bool | None = _signal_setting("metrics", "insecure")
    otlp_logs_endpoint: str | None = _signal_setting("logs", "endpoint")
    otlp_logs_protocol: Literal["grpc", "http/protobuf"] | None = _signal_setting(
        "logs", "protocol"
    )
    otlp_logs_headers: dict[str, SecretStr] | None = _signal_setting("logs", "headers")
    otlp_logs_timeout: int | None = _signal_setting("logs", "timeout")
    otlp_logs_compression: Literal["none", "gzip"] | None = _signal_setting("logs", "compression")
    otlp_logs_certificate: Path | None = _signal_setting("logs", "certificate")
    otlp_logs_client_key: Path | None = _signal_setting("logs", "client_key")
    otlp_logs_client_certificate: Path | None = _signal_setting("logs", "client_certificate")
    otlp_logs_insecure: bool | None = _signal_setting("logs", "insecure")
    prometheus_host: str = _setting(
        "localhost",
        env=("PYWATS_OTEL_PROMETHEUS_HOST", "OTEL_EXPORTER_PROMETHEUS_HOST"),
        doc="Address the /metrics and /health endpoint binds to; 0.0.0.0 opens it to the network.",
        accepted="a host name or IP address",
        default_doc="`localhost`",
    )
    prometheus_port: int = _setting(
        9090,
        env=("PYWATS_OTEL_PROMETHEUS_PORT", "OTEL_EXPORTER_PROMETHEUS_PORT"),
        doc="Port of the /metrics and /health endpoint; 0 picks a free port.",
        ge=0,
        le=65535,
        default_doc="9090",
    )
    endpoint_username: str | None = _setting(
        env=("PYWATS_OTEL_ENDPOINT_USERNAME",),
        doc="User name of HTTP basic auth on /metrics and every /health path; "
        "set it with endpoint_password.",
        accepted="a non-empty string without a colon",
        default_doc="unset: no authentication",
    )
    endpoint_password: SecretStr | None = _setting(
        env=("PYWATS_OTEL_ENDPOINT_PASSWORD",),
        doc="Password of HTTP basic auth on the endpoint; never logged or shown.",
        accepted="a non-empty string, together with endpoint_username",
        default_doc="unset",
        secret=True,
        validate_default=True,
    )
    endpoint_tls_cert: Path | None = _setting(
        env=("PYWATS_OTEL_ENDPOINT_TLS_CERT",),
        doc="PEM certificate (chain) of the endpoint; with endpoint_tls_key it serves HTTPS.",
        accepted="the path of an existing PEM file",
        default_doc="unset: plain HTTP",
    )
    endpoint_tls_key: Path | None = _setting(
        env=("PYWATS_OTEL_ENDPOINT_TLS_KEY",),
        doc="PEM private key of endpoint_tls_cert, not encrypted.",
        accepted="the path of an existing PEM file, together with endpoint_tls_cert",
        default_doc="unset",
        validate_default=True,
    )
    recent_traces: int = _setting(
        100,
        env=("PYWATS_OTEL_RECENT_TRACES",),
        doc="The endpoint's /traces page keeps the spans of the last this many traces of the "
        "process (a span processor, on while the endpoint is); 0 turns the page off.",
        ge=0,
        le=10_000,
        default_doc="100",
    )
    recent_failed_traces: int = _setting(
        50,
        env=("PYWATS_OTEL_RECENT_FAILED_TRACES",),
        doc="/traces also keeps the last this many traces with a failed span (status ERROR), "
        "however many good ones came after them.",
        ge=0,
        le=10_000,
        default_doc="50",
    )
    recent_trace_spans: int = _setting(
        200,
        env=("PYWATS_OTEL_RECENT_TRACE_SPANS",),
        doc="Spans /traces keeps per trace; later spans of the trace are counted, not kept.",
        ge=1,
        le=100_000,
        default_doc="200",
    )
    sampler: str = _setting(
        "parentbased_always_on",
        env=("PYWATS_OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER"),
        doc="Trace sampler, as OTEL_TRACES_SAMPLER names them.",
        accepted=", ".join(SAMPLERS),
        default_doc="`parentbased_always_on`",
    )
    sampler_arg: float | None = _setting(
        env=("PYWATS_OTEL_TRACES_SAMPLER_ARG", "OTEL_TRACES_SAMPLER_ARG"),
        doc="Sampling ratio of the traceidratio samplers.",
        ge=0.0,
        le=1.0,
        default_doc="unset: the traceidratio samplers then use 1.0",
    )
    metric_export_interval: int = _setting(
        60000,
        env=("PYWATS_OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_INTERVAL"),
        doc="Interval of the periodic (otlp, console) metric readers, in milliseconds.",
        ge=100,
        le=86_400_000,
        unit="milliseconds",
        default_doc="60000",
    )
    metric_export_timeout: int = _setting(
        30000,
        env=("PYWATS_OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_METRIC_EXPORT_TIMEOUT"),
        doc="Deadline of one periodic metric collection and export, in milliseconds.",
        ge=1,
        le=600_000,
        unit="milliseconds",
        default_doc="30000",
    )
    metric_cardinality_limit: int = _setting(
        2000,
        env=("PYWATS_OTEL_METRIC_CARDINALITY_LIMIT",),
        doc="Most series (attribute sets) a metric keeps per reader, the metrics SDK "
        "specification's limit; measurements with further attribute sets are counted in one "
        "series with otel.metric.overflow=true, totals kept. Applies to the program's own "
        "instruments too.",
        ge=0,
        le=1_000_000,
        accepted_note="0: no limit",
        default_doc="2000",
    )
    instrumentations: tuple[str, ...] = _setting(
        env=("PYWATS_OTEL_INSTRUMENTATIONS",),
        doc="Instrumentations that init_telemetry() turns on.",
        accepted="comma list of " + ", ".join(KNOWN_INSTRUMENTATIONS) + "; or none",
        default_doc="`" + ",".join(_DEFAULT_INSTRUMENTATIONS) + "`, and `pywats` when "
        "pywats-api is installed",
        default_factory=_default_instrumentations,
    )
    disabled_instrumentations: tuple[str, ...] = _setting(
        (),
        env=("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",),
        doc="Instrumentations to leave off, taken out of the list above; other names are ignored.",
        accepted="comma list of names",
        default_doc="none",
    )
    httpx_instrumentation: Literal["pywats_otel", "stock"] = _setting(
        "pywats_otel",
        env=("PYWATS_OTEL_HTTPX_INSTRUMENTATION",),
        doc="What traces httpx: pywats_otel's own transport instrumentation (the stock one's "
        "spans and metric at about half its cost) or the stock HTTPXClientInstrumentor.",
        accepted="pywats_otel or stock",
        default_doc="`pywats_otel`",
    )
    log_correlation: bool = _setting(
        True,
        env=("PYWATS_OTEL_LOG_CORRELATION",),
        doc="Every log record carries trace_id, span_id, correlation_id and trace_flags "
        "(a LogRecordFactory; needs the logging instrumentation too).",
        accepted="true or false",
        default_doc="true",
    )
    correlation_header: str = _setting(
        semconv.DEFAULT_CORRELATION_HEADER,
        env=("PYWATS_OTEL_CORRELATION_HEADER",),
        doc="HTTP header that carries the correlation ID (the trace ID) beside traceparent.",
        accepted="an HTTP header name",
        default_doc="`X-Correlation-ID`",
    )
    pywats_legacy_metrics: bool = _setting(
        False,
        env=("PYWATS_OTEL_PYWATS_LEGACY_METRICS",),
        doc="Also record pyWATS's own pywats_errors_total (error_type, operation), the one "
        "name of pywats.core.metrics without a pywats_otel twin (see docs/pywats.md).",
        accepted="true or false",
        default_doc="false",
    )
    converter_record_path: bool = _setting(
        False,
        env=("PYWATS_OTEL_CONVERTER_RECORD_PATH",),
        doc="Converter spans carry the input file's full path, not only its name.",
        accepted="true or false",
        default_doc="false",
    )
    logs_level: str = _setting(
        "INFO",
        env=("PYWATS_OTEL_LOGS_LEVEL",),
        doc="Lowest level of the log records that the logs exporters receive.",
        accepted=", ".join(LOG_LEVELS),
        default_doc="`INFO`",
    )
    shutdown_timeout_s: float = _setting(
        5.0,
        env=("PYWATS_OTEL_SHUTDOWN_TIMEOUT_S",),
        doc="Bound of the flush and shutdown at interpreter exit, in seconds.",
        ge=0.0,
        le=300.0,
        unit="seconds",
        default_doc="5",
    )
    disk_paths: tuple[Path, ...] = _setting(
        env=("PYWATS_OTEL_DISK_PATHS",),
        doc="Folders whose filesystems are measured (system.filesystem.utilization) and checked "
        "by the disk health check, e.g. the report queue.",
        accepted="paths separated by os.pathsep (: on POSIX, ; on Windows)",
        default_doc="the current directory at start-up",
        default_factory=lambda: (Path.cwd(),),
    )
    disk_warn_percent: float = _setting(
        90.0,
        env=("PYWATS_OTEL_DISK_WARN_PERCENT",),
        doc="The disk health check warns (status degraded) from this filesystem usage on.",
        ge=1.0,
        le=100.0,
        unit="percent",
        default_doc="90",
    )
    disk_fail_percent: float = _setting(
        95.0,
        env=("PYWATS_OTEL_DISK_FAIL_PERCENT",),
        doc="The disk health check fails (status unhealthy, not ready) from this usage on.",
        ge=1.0,
        le=100.0,
        unit="percent",
        accepted_note="not below disk_warn_percent",
        default_doc="95",
        validate_default=True,
    )
    health_check_url: str | None = _setting(
        env=("PYWATS_OTEL_HEALTH_CHECK_URL",),
        doc="URL (the WATS server) that a non-critical health check requests; any answer "
        "below 500 counts as reachable. Shown with credentials and sensitive query values "
        "redacted.",
        accepted="an http:// or https:// URL",
        default_doc="unset: no such check",
        url=True,
    )
    health_check_timeout_s: float = _setting(
        2.0,
        env=("PYWATS_OTEL_HEALTH_CHECK_TIMEOUT_S",),
        doc="Timeout of the health_check_url request, in seconds.",
        ge=0.1,
        le=60.0,
        unit="seconds",
        default_doc="2",
    )
    health_cache_s: float = _setting(
        1.0,
        env=("PYWATS_OTEL_HEALTH_CACHE_S",),
        doc="How long health check results are reused, so that a burst of /health requests "
        "runs the checks once; 0 runs them on every request.",
        ge=0.0,
        le=60.0,
        unit="seconds",
        default_doc="1",
    )
    config_file: Path | None = _setting(
        env=("PYWATS_OTEL_CONFIG_FILE",),
        doc="TOML file whose top-level keys are these setting names.",
        accepted="the path of an existing TOML file",
        default_doc="unset",
    )

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    #: What the loader noticed without refusing it (a misspelt PYWATS_OTEL_* variable).
    _notes: list[str] = PrivateAttr(default_factory=list)

    # -- validators: each turns the text of an environment variable into the field's type and
    # -- says what is wrong in words that go into TelemetryConfigError.

    @field_validator(
        "enabled", "otlp_insecure", "log_correlation", "converter_record_path", mode="before"
    )
    @classmethod
    def _strict_bool(cls, value: object) -> object:
        if value is None or isinstance(value, bool):
            return value
        parsed = parse_bool(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError("expected true or false")
        return parsed

    @field_validator("service_name")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("service_name", "service_version", "environment", "resource_attributes")
    @classmethod
    def _utf8(cls, value: object) -> object:
        # These go on the wire (resource attributes), which takes UTF-8 only: a byte that is
        # not UTF-8 in an environment variable arrives here as a lone surrogate.
        texts = [*value.keys(), *value.values()] if isinstance(value, dict) else [value]
        for text in texts:
            if isinstance(text, str) and not is_utf8(text):
                raise ValueError("is not UTF-8 text (a byte that is not UTF-8?)")
        return value

    @field_validator("prometheus_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        host = value.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise ValueError("must not be empty")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            labels = host.removesuffix(".").split(".")
            if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
                raise ValueError(
                    "is neither an IP address nor a host name (dot-separated labels of letters, "
                    "digits and inner hyphens)"
                ) from None
        return host

    @field_validator("resource_attributes", mode="before")
    @classmethod
    def _parse_resource_attributes(cls, value: object) -> object:
        if isinstance(value, str):
            return _parse_key_values(value, what="resource attribute", secret=False)
        return value

    @field_validator("resource_attributes")
    @classmethod
    def _check_resource_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _RESOURCE_KEY.fullmatch(key):
                raise ValueError(f"resource attribute key {key!r} is not a valid key")
        return value

    @field_validator(
        "otlp_headers",
        "otlp_traces_headers",
        "otlp_metrics_headers",
        "otlp_logs_headers",
        mode="before",
    )
    @classmethod
    def _parse_headers(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            value = _parse_key_values(value, what="header", secret=True)
        if not isinstance(value, Mapping):
            return value
        grpc = info.data.get("otlp_protocol") == "grpc"
        headers: dict[str, object] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                # The name is not secret, but it may hold a pasted value by mistake.
                raise ValueError("a header name is not a valid HTTP token")
            # HTTP names are case-insensitive; gRPC (HTTP/2) metadata takes lower case only.
            lowered = name.lower()
            if grpc and (
                not _GRPC_HEADER_NAME.fullmatch(lowered)
                or lowered.startswith("grpc-")
                or lowered.endswith("-bin")
            ):
                raise ValueError(
                    f"header {lowered!r} cannot be gRPC metadata: names are made of letters, "
                    "digits, -, _ and ., and grpc-* and *-bin are reserved"
                )
            text = item.get_secret_value() if isinstance(item, SecretStr) else item
            if isinstance(text, str) and not _HEADER_VALUE.fullmatch(text):
                raise ValueError(
                    f"the value of header {lowered!r} holds characters that HTTP and gRPC "
                    "cannot carry (a line break or another control character, or non-ASCII "
                    "text); the value is not shown"
                )
            if lowered in headers:
                raise ValueError(f"header {lowered!r} is given twice")
            headers[lowered] = item
        endpoint = info.data.get("otlp_endpoint")
        if "authorization" in headers and endpoint and "@" in urlsplit(endpoint).netloc:
            raise ValueError(
                "otlp_endpoint has credentials (user:password@), which the HTTP exporter "
                "would send as Basic auth in place of this authorization header: keep one"
            )
        return headers

    @field_validator("traces_exporter", "metrics_exporter", "logs_exporter", mode="before")
    @classmethod
    def _parse_exporters(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return None
        names = _split_list(value)
        if names == ("none",):
            return ()
        if "none" in names:
            raise ValueError("none cannot be combined with other exporters")
        signal = cast(Signal, (info.field_name or "").removesuffix("_exporter"))
        known = available_exporters(signal)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"unknown {signal} exporter {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}, none"
            )
        return names

    @field_validator("instrumentations", mode="before")
    @classmethod
    def _parse_instrumentations(cls, value: object) -> object:
        names = _split_list(value)
        if names == ("none",):
            return ()
        unknown = [name for name in names if name not in KNOWN_INSTRUMENTATIONS]
        if unknown:
            raise ValueError(f"unknown instrumentation {', '.join(map(repr, unknown))}")
        return names

    @field_validator("disabled_instrumentations", mode="before")
    @classmethod
    def _parse_disabled(cls, value: object) -> object:
        return _split_list(value)

    @field_validator(
        "otlp_endpoint",
        "otlp_traces_endpoint",
        "otlp_metrics_endpoint",
        "otlp_logs_endpoint",
        "health_check_url",
    )
    @classmethod
    def _check_endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            example = (
                "https://wats.example.com"
                if info.field_name == "health_check_url"
                else "http://localhost:4317"
            )
            raise ValueError(f"expected a URL such as {example}")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError("the URL has an invalid port") from exc
        if (
            info.field_name == "otlp_endpoint"
            and "@" in parts.netloc
            and info.data.get("otlp_protocol") == "grpc"
        ):
            # The gRPC exporter would take user:password@host:port as the target's name.
            raise ValueError(
                "a gRPC endpoint cannot carry credentials (user:password@); send them as a "
                "header in otlp_headers (authorization=Basic%20...) or use http/protobuf"
            )
        return value

    @field_validator(
        "otlp_protocol",
        "otlp_compression",
        *(
            f"otlp_{signal}_{option}"
            for signal in SIGNALS
            for option in ("protocol", "compression")
        ),
        "sampler",
        "httpx_instrumentation",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sampler")
    @classmethod
    def _check_sampler(cls, value: str) -> str:
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}")
        return value

    @field_validator(
        "otlp_certificate",
        "otlp_client_key",
        *(
            f"otlp_{signal}_{option}"
            for signal in SIGNALS
            for option in ("certificate", "client_key", "client_certificate")
        ),
        "config_file",
        "endpoint_tls_cert",
    )
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("endpoint_username")
    @classmethod
    def _check_username(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if ":" in value or not value.isprintable():
            raise ValueError("must not contain a colon or control characters (HTTP basic auth)")
        return value

    @field_validator("endpoint_password")
    @classmethod
    def _check_password(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Declared after endpoint_username, whose validated value info.data holds (absent when
        # it was refused itself, which is then the error to report).
        if "endpoint_username" not in info.data:
            return value
        username = info.data["endpoint_username"]
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty")
        if (username is None) != (value is None):
            raise ValueError(
                "endpoint_username and endpoint_password go together: set both or neither"
            )
        return value

    @field_validator("otlp_client_certificate")
    @classmethod
    def _check_client_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Declared after otlp_client_key and always validated (validate_default).
        if "otlp_client_key" not in info.data:
            return value
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        if (info.data["otlp_client_key"] is None) != (value is None):
            raise ValueError(
                "otlp_client_key and otlp_client_certificate go together: set both or neither"
            )
        return value

    @field_validator("endpoint_tls_key")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "endpoint_tls_cert" not in info.data:
            return value
        cert = info.data["endpoint_tls_cert"]
        if (cert is None) != (value is None):
            raise ValueError(
                "endpoint_tls_cert and endpoint_tls_key go together: set both or neither"
            )
        if cert is not None and value is not None:
            if not value.is_file():
                raise ValueError(f"no such file: {value}")
            _load_tls_pair(cert, value)
        return value

    @field_validator("disk_paths", mode="before")
    @classmethod
    def _parse_paths(cls, value: object) -> object:
        if isinstance(value, (str, Path)):
            value = str(value).split(os.pathsep)
        if isinstance(value, (list, tuple)):
            paths = [str(item).strip() for item in value]
            paths = [item for item in paths if item]
            if not paths:
                raise ValueError("expected at least one path")
            # Absolute now, so that a later chdir() does not move what is measured.
            return tuple(dict.fromkeys(Path(item).expanduser().absolute() for item in paths))
        return value

    @field_validator("disk_fail_percent")
    @classmethod
    def _check_fail_percent(cls, value: float, info: ValidationInfo) -> float:
        # Declared after disk_warn_percent and always validated (validate_default).
        warn = info.data.get("disk_warn_percent")
        if warn is not None and value < warn:
            raise ValueError(f"must not be below disk_warn_percent ({warn:g})")
        return value

    @field_validator("correlation_header")
    @classmethod
    def _check_header_name(cls, value: str) -> str:
        value = value.strip()
        if not _HEADER_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid HTTP header name")
        return value

    @field_validator("logs_level", mode="before")
    @classmethod
    def _check_level(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = logging.getLevelName(value)
        if isinstance(value, str):
            value = value.strip().upper()
            if value == "WARN":
                value = "WARNING"
            if value not in LOG_LEVELS:
                raise ValueError(f"unknown level {value!r}")
        return value

    # -- what the rest of the package reads

    def exporters(self, signal: Signal) -> tuple[str, ...]:
        """The exporter names of a signal after the defaults that depend on the endpoint."""
        configured: tuple[str, ...] | None = getattr(self, f"{signal}_exporter")
        if configured is not None:
            return configured
        endpoint = self.otlp_endpoint or getattr(self, f"otlp_{signal}_endpoint")
        if signal == "metrics":
            return ("prometheus", "otlp") if endpoint else ("prometheus",)
        return ("otlp",) if endpoint else ()

    def active_instrumentations(self) -> tuple[str, ...]:
        """The instrumentations to turn on: the list minus OTEL_PYTHON_DISABLED_INSTRUMENTATIONS."""
        disabled = set(self.disabled_instrumentations)
        return tuple(name for name in self.instrumentations if name not in disabled)

    @property
    def effective_sampler_arg(self) -> float:
        return 1.0 if self.sampler_arg is None else self.sampler_arg

    def secret_values(self) -> list[str]:
        """The values of the secret settings (OTLP header values, the endpoint password) and
        what URL settings hide (passwords and sensitive query values)."""
        values = [value.get_secret_value() for value in self.otlp_headers.values()]
        for signal in SIGNALS:
            headers: dict[str, SecretStr] | None = getattr(self, f"otlp_{signal}_headers")
            values += [value.get_secret_value() for value in (headers or {}).values()]
        if self.endpoint_password is not None:
            values.append(self.endpoint_password.get_secret_value())
        for info in setting_infos():
            if info.url:
                values += url_secrets(getattr(self, info.name))
        return values

    @property
    def notes(self) -> tuple[str, ...]:
        """What the loader noticed and did not refuse: PYWATS_OTEL_* variables that are no
        setting's, each with the closest one (start-up warns about each)."""
        return tuple(self._notes)

    def source_of(self, name: str) -> str:
        """Where setting ``name``'s value came from: keyword argument, variable, file, default."""
        return self._sources.get(name, "default")

    def redacted(self) -> dict[str, Any]:
        """The settings as plain values, secrets replaced by ``***`` and URLs redacted (for
        logs, ``pywats-otel settings`` and ``check``)."""
        result: dict[str, Any] = {}
        for info in setting_infos():
            value = getattr(self, info.name)
            if info.url and isinstance(value, str):
                value = redact_url(value)
            elif info.secret:
                if isinstance(value, dict):
                    value = dict.fromkeys(value, "***")
                elif value is not None:
                    value = "***"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(item) if isinstance(item, Path) else item for item in value]
            result[info.name] = value
        return result


@dataclass(frozen=True)
class SettingInfo:
    """The declaration of one setting, as the docs table and ``pywats-otel check`` show it."""

    name: str
    env: tuple[str, ...]
    inverse_env: tuple[str, ...]
    doc: str
    accepted: str
    default: str
    secret: bool
    url: bool


def setting_infos() -> Iterator[SettingInfo]:
    """Each setting's declaration, in declaration order."""
    for name, field in TelemetrySettings.model_fields.items():
        extra = cast(dict[str, Any], field.json_schema_extra)
        env = tuple(extra["pywats_env"])
        default_doc = extra["pywats_default_doc"]
        if default_doc is None:
            default_doc = (
                str(field.default).lower()
                if isinstance(field.default, bool)
                else (str(field.default))
            )
        yield SettingInfo(
            name=name,
            env=tuple(e for e in env if not e.startswith(INVERSE_PREFIX)),
            inverse_env=tuple(e[1:] for e in env if e.startswith(INVERSE_PREFIX)),
            doc=field.description or "",
            accepted=extra["pywats_accepted"]
            or _range_text(field.annotation, field.metadata, extra),
            default=default_doc,
            secret=extra["pywats_secret"],
            url=extra["pywats_url"],
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _range_text(annotation: object, metadata: Sequence[object], extra: Mapping[str, Any]) -> str:
    """The accepted-values text of a bounded number: "an integer from 0 to 65535"."""
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    integer = annotation is int or annotation == (int | None)
    kind = "an integer" if integer else "a number"
    text = f"{kind} from {_number(float(low))} to {_number(float(high))}"  # type: ignore[arg-type]
    if extra["pywats_unit"]:
        text += f" ({extra['pywats_unit']})"
    if extra["pywats_accepted_note"]:
        text += f", {extra['pywats_accepted_note']}"
    return text


def _load_tls_pair(cert: Path, key: Path) -> None:
    """Load the pair once now, so that a bad file stops start-up rather than every request."""
    import ssl

    def no_password() -> str:
        # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
        raise ValueError("the key is encrypted")

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert, key, password=no_password
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        raise ValueError(
            f"cannot load the certificate {cert} with the key {key} ({reason}); "
            "expected PEM files, the key not encrypted"
        ) from None


def _split_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        # pydantic turns ValueError (not TypeError) into a validation error.
        raise ValueError("expected a comma-separated list")  # noqa: TRY004
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("expected a list of names")  # noqa: TRY004
        name = item.strip().lower()
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _parse_key_values(text: str, *, what: str, secret: bool) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k1=v1,k2=v2`` format of OTEL_* list variables.

    With ``secret``, no part of a value ever reaches an error message.
    """
    result: dict[str, str] = {}
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        detail = "" if secret else f" ({item.strip()!r})"
        if _BAD_PERCENT_ESCAPE.search(item):
            raise ValueError(
                f"{what} entry {position} has a bad percent-escape: % must be followed by two "
                f"hex digits (%25 for % itself){detail}"
            )
        key = unquote(key).strip()
        if not sep or not key:
            raise ValueError(f"{what} entry {position} is not key=value{detail}")
        result[key] = unquote(value).strip()
    return result
