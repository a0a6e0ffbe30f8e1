"""Exporters by name: the built-in otlp, console, prometheus and tree, and plug-ins by entry
point.

A plug-in package registers an :class:`ExporterSpec` under the entry point group
``pywats_otel.exporters``; its name then works in ``*_exporter`` settings like a built-in one.
Exporter modules are imported only when a setting selects them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pywats_otel._base.errors import SettingProblem, TelemetryConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter
    from prometheus_client import CollectorRegistry

    from pywats_otel._config.otlp import OTLPOptions
    from pywats_otel._config.settings import Signal, TelemetrySettings

__all__ = ["ENTRY_POINT_GROUP", "ExporterContext", "ExporterSpec", "available_exporters", "get"]

ENTRY_POINT_GROUP = "pywats_otel.exporters"
_logger = logging.getLogger("pywats_otel")


@dataclass
class ExporterContext:
    """What an exporter factory may read: the settings, the resource and the signal."""

    settings: TelemetrySettings
    resource: Resource
    signal: Signal
    #: The registry the pywats_otel endpoint serves at /metrics (pull exporters register here).
    metrics_registry: CollectorRegistry | None = None


@dataclass(frozen=True)
class ExporterSpec:
    """How to build one named exporter for each signal it supports.

    ``metric_exporter`` builds a push exporter that pywats_otel wraps in a periodic reader;
    ``metric_reader`` builds a pull reader (Prometheus). ``describe`` says where data goes, for
    the start-up log line and ``status()``; it must not reveal secrets.
    """

    span_exporter: Callable[[ExporterContext], SpanExporter] | None = None
    metric_exporter: Callable[[ExporterContext], MetricExporter] | None = None
    metric_reader: Callable[[ExporterContext], MetricReader] | None = None
    log_exporter: Callable[[ExporterContext], LogRecordExporter] | None = None
    describe: Callable[[ExporterContext], str] = field(default=lambda context: "")
    #: The reader registers with ``context.metrics_registry``, which the endpoint serves.
    uses_endpoint: bool = False
    #: Builds a probe of the destination that says what is wrong there; pywats_otel runs it
    #: once, at an exporter's first failure, and adds its answer to the error.
    diagnose: Callable[[ExporterContext], Callable[[], str | None]] | None = None

    def supports(self, signal: Signal) -> bool:
        if signal == "traces":
            return self.span_exporter is not None
        if signal == "metrics":
            return self.metric_exporter is not None or self.metric_reader is not None
        return self.log_exporter is not None


# -- OTLP -----------------------------------------------------------------------------------
# Each signal's options come from pywats_otel._config.otlp (per-signal settings over the
# general ones); the SDK's exporters get them as arguments.


def otlp_endpoint(settings: TelemetrySettings, signal: Signal) -> str:
    """The URL an OTLP exporter of ``signal`` sends to (the signal path added for HTTP)."""
    from pywats_otel._config.otlp import otlp_options

    return otlp_options(settings, signal).endpoint


#: Channel arguments of the three gRPC exporters. Each channel gets its own subchannel pool:
#: in gRPC's global pool the three channels to one collector share a subchannel, and its
#: reconnect backoff (up to 120 s by default) kept the later exporters failing for 10-35 s
#: after the collector came back. The backoff is capped at a few seconds too; the exporters'
#: own retries (1, 2, 4 s within otlp_timeout) then set the pace. See docs/operations.md for
#: the measurement (python -m benchmarks.collector_restart).
GRPC_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def _options(settings: TelemetrySettings, signal: Signal) -> OTLPOptions:
    from pywats_otel._config.otlp import otlp_options

    return otlp_options(settings, signal)


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None


def _grpc_kwargs(options: OTLPOptions) -> dict[str, Any]:
    from pywats_otel._config.otlp import import_grpc

    grpc = import_grpc()
    kwargs: dict[str, Any] = {
        "endpoint": options.endpoint,
        "insecure": options.insecure,
        "headers": options.headers,
        # OTEL_EXPORTER_OTLP_TIMEOUT is in milliseconds per the spec; the Python exporters
        # take seconds as their argument.
        "timeout": options.timeout_ms / 1000.0,
        "compression": grpc.Compression.Gzip
        if options.compression == "gzip"
        else grpc.Compression.NoCompression,
        "channel_options": GRPC_CHANNEL_OPTIONS,
    }
    if not options.insecure:
        kwargs["credentials"] = grpc.ssl_channel_credentials(
            root_certificates=_read(options.certificate),
            private_key=_read(options.client_key),
            certificate_chain=_read(options.client_certificate),
        )
    return kwargs


def _http_kwargs(options: OTLPOptions) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression

    kwargs: dict[str, Any] = {
        "endpoint": options.endpoint,
        "headers": options.headers,
        "timeout": options.timeout_ms / 1000.0,
        "compression": Compression.Gzip
        if options.compression == "gzip"
        else Compression.NoCompression,
    }
    if options.certificate is not None:
        kwargs["certificate_file"] = str(options.certificate)
        kwargs["session"] = _pinned_ca_session()
    if options.client_key is not None and options.client_certificate is not None:
        kwargs["client_key_file"] = str(options.client_key)
        kwargs["client_certificate_file"] = str(options.client_certificate)
    return kwargs


def _pinned_ca_session() -> Any:
    """A requests session that keeps the CA file it is given.

    requests lets ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) replace a session's own
    ``verify`` on every request (psf/requests#3829), so with either variable set, as on many
    CI machines and in containers, the SDK's HTTP exporters would ignore ``certificate_file``
    and refuse a collector signed by that CA.
    """
    import requests

    class PinnedCASession(requests.Session):
        def merge_environment_settings(
            self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
        ) -> Any:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and isinstance(self.verify, str):
                merged["verify"] = self.verify
            return merged

    return PinnedCASession()


def _otlp_span_exporter(context: ExporterContext) -> SpanExporter:
    options = _options(context.settings, "traces")
    if options.protocol == "grpc":
        kwargs = _grpc_kwargs(options)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(**_http_kwargs(options))


def _otlp_metric_exporter(context: ExporterContext) -> MetricExporter:
    options = _options(context.settings, "metrics")
    if options.protocol == "grpc":
        kwargs = _grpc_kwargs(options)
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HTTPMetricExporter,
    )

    return HTTPMetricExporter(**_http_kwargs(options))


def _otlp_log_exporter(context: ExporterContext) -> LogRecordExporter:
    options = _options(context.settings, "logs")
    if options.protocol == "grpc":
        kwargs = _grpc_kwargs(options)
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HTTPLogExporter,
    )

    return HTTPLogExporter(**_http_kwargs(options))


def _describe_otlp(context: ExporterContext) -> str:
    options = _options(context.settings, context.signal)
    return f"otlp {options.protocol} {options.shown_endpoint}"


def _diagnose_otlp(context: ExporterContext) -> Callable[[], str | None]:
    options = _options(context.settings, context.signal)

    def diagnose() -> str | None:
        from pywats_otel._config.otlp import diagnose as probe

        return probe(options)

    return diagnose


# -- console --------------------------------------------------------------------------------


def _console_span_exporter(context: ExporterContext) -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter(service_name=context.settings.service_name)


def _tree_span_exporter(context: ExporterContext) -> SpanExporter:
    from pywats_otel._config.tree_exporter import TreeSpanExporter

    return TreeSpanExporter()


def _console_metric_exporter(context: ExporterContext) -> MetricExporter:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    return ConsoleMetricExporter()


def _console_log_exporter(context: ExporterContext) -> LogRecordExporter:
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

    return ConsoleLogRecordExporter()


# -- prometheus -----------------------------------------------------------------------------


def _prometheus_reader(context: ExporterContext) -> MetricReader:
    from pywats_otel._config.prometheus_reader import build_prometheus_reader

    if context.metrics_registry is None:  # pragma: no cover - the bootstrap always sets it
        raise RuntimeError("the prometheus exporter needs the endpoint's registry")
    return build_prometheus_reader(context.metrics_registry)


def _describe_prometheus(context: ExporterContext) -> str:
    settings = context.settings
    return f"prometheus http://{settings.prometheus_host}:{settings.prometheus_port}/metrics"


_BUILTIN: dict[str, ExporterSpec] = {
    "otlp": ExporterSpec(
        span_exporter=_otlp_span_exporter,
        metric_exporter=_otlp_metric_exporter,
        log_exporter=_otlp_log_exporter,
        describe=_describe_otlp,
        diagnose=_diagnose_otlp,
    ),
    "console": ExporterSpec(
        span_exporter=_console_span_exporter,
        metric_exporter=_console_metric_exporter,
        log_exporter=_console_log_exporter,
        describe=lambda context: "console (stdout)",
    ),
    "prometheus": ExporterSpec(
        metric_reader=_prometheus_reader, describe=_describe_prometheus, uses_endpoint=True
    ),
    "tree": ExporterSpec(
        span_exporter=_tree_span_exporter, describe=lambda context: "tree (stdout)"
    ),
}

_plugins: dict[str, ExporterSpec] | None = None
_plugins_lock = threading.Lock()


def _load_plugins() -> dict[str, ExporterSpec]:
    global _plugins  # noqa: PLW0603 - a process-wide cache of the entry points
    with _plugins_lock:
        if _plugins is None:
            found: dict[str, ExporterSpec] = {}
            for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if entry.name in _BUILTIN:
                    _logger.warning(
                        "pywats_otel: entry point %r of %s cannot replace the built-in exporter",
                        entry.name,
                        entry.value,
                    )
                    continue
                try:
                    spec = entry.load()
                except Exception as exc:  # noqa: BLE001 - a broken plug-in must not stop start-up
                    _logger.warning(
                        "pywats_otel: exporter plug-in %r (%s) failed to load: %s",
                        entry.name,
                        entry.value,
                        exc,
                    )
                    continue
                if isinstance(spec, ExporterSpec):
                    found[entry.name] = spec
                else:
                    _logger.warning(
                        "pywats_otel: exporter plug-in %r (%s) is not an ExporterSpec",
                        entry.name,
                        entry.value,
                    )
            _plugins = found
        return _plugins


def reset_plugins() -> None:
    """Forget the loaded entry points (tests install plug-ins at run time)."""
    global _plugins  # noqa: PLW0603 - see _load_plugins
    with _plugins_lock:
        _plugins = None


def register_builtin(name: str, spec: ExporterSpec) -> None:
    """Add an exporter by name in code (pywats_otel.testing adds ``memory``)."""
    _BUILTIN[name] = spec


def unregister_builtin(name: str) -> None:
    _BUILTIN.pop(name, None)


def available_exporters(signal: Signal) -> tuple[str, ...]:
    """Names usable in the ``<signal>_exporter`` setting, built-in ones first."""
    specs = {**_BUILTIN, **_load_plugins()}
    return tuple(name for name, spec in specs.items() if spec.supports(signal))


def get(name: str, signal: Signal) -> ExporterSpec:
    """The spec of exporter ``name``; an unknown name is a TelemetryConfigError naming the known."""
    spec = _BUILTIN.get(name) or _load_plugins().get(name)
    if spec is None or not spec.supports(signal):
        known = ", ".join(available_exporters(signal))
        raise TelemetryConfigError(
            [SettingProblem(f"{signal}_exporter", "settings", f"unknown exporter {name!r}", known)]
        )
    return spec
