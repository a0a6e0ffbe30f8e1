"""Providers someone else set before ``init_telemetry()`` (``opentelemetry-instrument`` with
another configurator, a framework): what they are and where their data goes.

OpenTelemetry's global providers can be set once per process. When an SDK provider is already
set, pywats_otel adds its parts to it rather than building a second pipeline that the API
would ignore: the ``/traces`` processor to the TracerProvider, the Prometheus reader of
``/metrics`` to the MeterProvider (``MeterProvider.add_metric_reader``), its log handler on the
LoggerProvider unless a handler already bridges logging there. Exporters of its own are added
only to a provider that has none, so that no span, point or record is exported twice. The
descriptions below read the SDK's processors and readers for the start-up line and
``status()``; what they cannot name they call by type.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "describe_exporter",
    "has_log_bridge",
    "reader_destinations",
    "set_before",
    "span_destinations",
]


def set_before(signal: str) -> Any | None:
    """The SDK provider of ``signal`` set globally before pywats_otel, or None (the API's
    proxy, nothing set). A provider that is not the SDK's is returned as is: the caller can
    only warn about it."""
    if signal == "traces":
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()
        return None if isinstance(provider, trace.ProxyTracerProvider) else provider
    if signal == "metrics":
        from opentelemetry import metrics
        from opentelemetry.metrics import _internal as metrics_internal

        provider = metrics.get_meter_provider()
        return None if isinstance(provider, metrics_internal._ProxyMeterProvider) else provider
    from opentelemetry import _logs
    from opentelemetry._logs import _internal as logs_internal

    provider = _logs.get_logger_provider()
    return None if isinstance(provider, logs_internal.ProxyLoggerProvider) else provider


def describe_exporter(exporter: Any) -> str:
    """``OTLPSpanExporter to localhost:4317``, or the type's name alone."""
    kind = type(exporter).__name__
    endpoint = getattr(exporter, "_endpoint", None)
    if isinstance(endpoint, str) and endpoint:
        from pywats_otel._base.redact import redact_url

        return f"{kind} to {redact_url(endpoint)}"
    return kind


def _exporter_of(processor: Any) -> Any | None:
    batch = getattr(processor, "_batch_processor", None)
    for holder in (batch, processor):
        for name in ("_exporter", "span_exporter", "_log_exporter"):
            exporter = getattr(holder, name, None)
            if exporter is not None:
                return exporter
    return None


def span_destinations(provider: Any, *, besides: tuple[Any, ...] = ()) -> list[str]:
    """The span processors of a TracerProvider (not ``besides``), each with its exporter."""
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", ())
    found = []
    for processor in processors:
        if any(processor is other for other in besides):
            continue
        exporter = _exporter_of(processor)
        kind = type(processor).__name__
        found.append(f"{kind}({describe_exporter(exporter)})" if exporter is not None else kind)
    return found


def reader_destinations(provider: Any, *, besides: tuple[Any, ...] = ()) -> list[str]:
    """The metric readers of a MeterProvider (not ``besides``), each with its exporter."""
    consumer = getattr(provider, "_measurement_consumer", None)
    readers = list(
        getattr(consumer, "_reader_storages", {}) or getattr(provider, "_metric_readers", ())
    )
    found = []
    for reader in readers:
        if any(reader is other for other in besides):
            continue
        exporter = getattr(reader, "_exporter", None)
        kind = type(reader).__name__
        found.append(f"{kind}({describe_exporter(exporter)})" if exporter is not None else kind)
    return found


def log_destinations(provider: Any) -> list[str]:
    """The log record processors of a LoggerProvider, each with its exporter."""
    multi = getattr(provider, "_multi_log_record_processor", None)
    processors = getattr(multi, "_log_record_processors", ())
    found = []
    for processor in processors:
        exporter = _exporter_of(processor)
        kind = type(processor).__name__
        found.append(f"{kind}({describe_exporter(exporter)})" if exporter is not None else kind)
    return found


def has_log_bridge(root: logging.Logger | None = None) -> bool:
    """Whether a handler of the root logger already turns records into OpenTelemetry logs."""
    from opentelemetry.sdk._logs import LoggingHandler

    handlers = (root or logging.getLogger()).handlers
    return any(isinstance(handler, LoggingHandler) for handler in handlers)
