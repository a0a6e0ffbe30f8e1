"""Test helpers for code instrumented with pywats_otel (and for pywats_otel's own tests).

``capture_telemetry()`` runs the real ``init_telemetry()`` with in-memory exporters, so a test
sees the spans, metric points and log records the code under test produced::

    from pywats_otel.testing import capture_telemetry

    def test_upload_is_traced():
        with capture_telemetry(service_name="test") as captured:
            upload(report)
            [span] = captured.spans(name="process reports")
            processed = captured.metric_value(
                "pywats.queue.processed", {"pywats.queue.outcome": "success"}
            )
        assert processed == 1

``reset_telemetry()`` shuts telemetry down and clears OpenTelemetry's global providers, so the
next test starts clean.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typing_extensions import Unpack

from pywats_otel._config import exporters as _exporters
from pywats_otel._config.exporters import ExporterSpec
from pywats_otel._config.kwargs import SettingsKwargs
from pywats_otel._pipeline import bootstrap as _bootstrap

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.trace import ReadableSpan

    from pywats_otel._pipeline.telemetry import Telemetry

__all__ = ["CapturedTelemetry", "capture_telemetry", "reset_telemetry"]

MEMORY_EXPORTER = "memory"


def reset_telemetry(timeout_s: float = 2.0) -> None:
    """Shut the running telemetry down and forget OpenTelemetry's global providers."""
    from opentelemetry import _logs, trace
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.util._once import Once

    telemetry = _bootstrap.get_telemetry()
    if telemetry is not None:
        telemetry.shutdown(timeout_s=timeout_s)
    _bootstrap.forget()
    # OpenTelemetry sets its global providers once per process; tests need them set again.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None
    _logs._internal._LOGGER_PROVIDER_SET_ONCE = Once()
    _logs._internal._LOGGER_PROVIDER = None


class CapturedTelemetry:
    """What the code under test produced, read from in-memory exporters."""

    def __init__(
        self,
        telemetry: Telemetry,
        spans: InMemorySpanExporter,
        reader: InMemoryMetricReader,
        logs: InMemoryLogRecordExporter,
    ) -> None:
        self.telemetry = telemetry
        self.span_exporter = spans
        self.metric_reader = reader
        self.log_exporter = logs

    def flush(self) -> None:
        self.telemetry.force_flush(timeout_s=5.0)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally only those called ``name``."""
        self.flush()
        found = list(self.span_exporter.get_finished_spans())
        return [span for span in found if name is None or span.name == name]

    def log_records(self) -> list[ReadableLogRecord]:
        self.flush()
        return list(self.log_exporter.get_finished_logs())

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of metric ``name`` collected now."""
        data = self.metric_reader.get_metrics_data()
        points: list[tuple[dict[str, Any], Any]] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(
                            (dict(point.attributes or {}), point)
                            for point in metric.data.data_points
                        )
        return points

    def metric_value(self, name: str, attributes: Mapping[str, Any] | None = None) -> Any:
        """The value of the one point of ``name`` whose attributes include ``attributes``.

        A counter or gauge gives its number, a histogram its (count, sum); None when no point
        matches. More than one match is an AssertionError: the test should say more.
        """
        wanted = dict(attributes or {})
        matches = [
            point
            for attrs, point in self.metric_points(name)
            if all(attrs.get(key) == value for key, value in wanted.items())
        ]
        if not matches:
            return None
        assert len(matches) == 1, f"{len(matches)} points of {name} match {wanted}"
        point = matches[0]
        if isinstance(point, HistogramDataPoint):
            return (point.count, point.sum)
        if isinstance(point, NumberDataPoint):
            return point.value
        return point

    def clear(self) -> None:
        self.flush()
        self.span_exporter.clear()
        self.log_exporter.clear()


@contextmanager
def capture_telemetry(**settings: Unpack[SettingsKwargs]) -> Iterator[CapturedTelemetry]:
    """Run ``init_telemetry(**settings)`` with in-memory exporters for every signal.

    Exporter settings default to ``memory`` only; the Prometheus endpoint stays off unless
    ``metrics_exporter`` asks for it. On exit telemetry is reset.
    """
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    _exporters.register_builtin(
        MEMORY_EXPORTER,
        ExporterSpec(
            span_exporter=lambda context: spans,
            metric_reader=lambda context: reader,
            log_exporter=lambda context: logs,
            describe=lambda context: "memory (pywats_otel.testing)",
        ),
    )
    settings.setdefault("traces_exporter", MEMORY_EXPORTER)
    settings.setdefault("metrics_exporter", MEMORY_EXPORTER)
    settings.setdefault("logs_exporter", MEMORY_EXPORTER)
    reset_telemetry()
    root = logging.getLogger()
    level = root.level
    try:
        telemetry = _bootstrap.init_telemetry(**settings)
        yield CapturedTelemetry(telemetry, spans, reader, logs)
    finally:
        reset_telemetry()
        root.setLevel(level)
        _exporters.unregister_builtin(MEMORY_EXPORTER)
