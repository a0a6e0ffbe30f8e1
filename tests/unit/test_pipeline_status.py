"""The pipeline's own status: pywats.otel.export.* metrics, status() and the exporter checks."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from pywats_otel import health, semconv
from pywats_otel._config import exporters as _exporters
from pywats_otel.exporters import ExporterSpec
from pywats_otel.testing import capture_telemetry


class _Switchable(SpanExporter):
    """Fails while ``failing`` is set, like a collector that goes away and comes back."""

    def __init__(self) -> None:
        self.failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.failing:
            raise ConnectionError("collector:4317 refused the connection")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@pytest.fixture
def switchable() -> Iterator[_Switchable]:
    exporter = _Switchable()
    _exporters.register_builtin(
        "switchable",
        ExporterSpec(span_exporter=lambda context: exporter, describe=lambda context: "sink"),
    )
    yield exporter
    _exporters.unregister_builtin("switchable")


def _labels(outcome: str | None = None) -> dict[str, str]:
    labels = {semconv.OTEL_SIGNAL: "traces", semconv.OTEL_EXPORTER: "switchable"}
    if outcome is not None:
        labels[semconv.OTEL_EXPORT_OUTCOME] = outcome
    return labels


def _span(captured: object, count: int = 1) -> None:
    tracer = trace.get_tracer("test")
    for _ in range(count):
        with tracer.start_as_current_span("upload"):
            pass
    captured.flush()  # type: ignore[attr-defined]


def test_export_metrics_follow_successes_and_failures(switchable: _Switchable) -> None:
    """Exported and failed spans, failed exports and the last success time are metrics."""
    with capture_telemetry(traces_exporter="switchable", instrumentations="none") as captured:
        before = time.time()
        _span(captured, 3)
        switchable.failing = True
        _span(captured, 2)
        _span(captured, 1)
        values = {
            outcome: captured.metric_value(semconv.OTEL_EXPORT_ITEMS, _labels(outcome))
            for outcome in ("exported", "failed", "dropped")
        }
        failures = captured.metric_value(semconv.OTEL_EXPORT_FAILURES, _labels())
        last_success = captured.metric_value(semconv.OTEL_EXPORT_LAST_SUCCESS_TIME, _labels())
        [traces] = captured.telemetry.status()["traces"]
    assert values == {"exported": 3, "failed": 3, "dropped": 0}
    assert failures == 2
    assert before <= last_success <= time.time()
    assert traces["consecutive_failures"] == 2
    assert traces["last_error"] == "ConnectionError: collector:4317 refused the connection"


def test_exporter_health_check_follows_the_exports(switchable: _Switchable) -> None:
    """The exporter's check fails (degraded, still ready) while exports fail, ok after."""
    with capture_telemetry(
        traces_exporter="switchable", instrumentations="none", health_cache_s=0
    ) as captured:
        _span(captured)
        switchable.failing = True
        _span(captured)
        failing = captured.telemetry.health("/health")
        ready = captured.telemetry.health("/health/ready")
        switchable.failing = False
        _span(captured)
        recovered = captured.telemetry.health("/health")
    check = failing[1]["checks"]["export:traces:switchable"]
    assert (failing[0], failing[1]["status"], check["status"]) == (200, "degraded", "fail")
    assert check["critical"] is False
    assert check["message"].startswith("1 failed export since the last success (")
    assert check["message"].endswith("refused the connection")
    assert ready == (200, {"status": "degraded"})
    assert recovered[1]["checks"]["export:traces:switchable"]["status"] == "ok"


def test_export_metrics_go_silent_after_shutdown(switchable: _Switchable) -> None:
    """After shutdown the pipeline instruments report nothing for the old handle."""
    from pywats_otel._pipeline import self_metrics as _pipeline_metrics

    with capture_telemetry(traces_exporter="switchable", instrumentations="none") as captured:
        assert _pipeline_metrics._source is not None
        captured.telemetry.shutdown(timeout_s=2)
        assert _pipeline_metrics._source is None
        assert health.default_registry().names() == []


def test_every_new_metric_is_documented_with_a_description() -> None:
    """Each metric of this issue has a MetricInfo with a description and a docs entry."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "health.md").read_text()
    prefixes = ("process.", "system.", "pywats.otel.", "pywats.health.")
    infos = [info for info in semconv.METRICS if info.name.startswith(prefixes)]
    assert len(infos) == 14
    for info in infos:
        assert info.description.endswith(".")
        assert f"`{info.name}`" in docs, info.name


def test_the_last_push_export_at_shutdown_carries_the_export_counters() -> None:
    """Shutdown's final metric export still reports the pipeline's counters."""
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

    class Keeping(MetricExporter):
        def __init__(self) -> None:
            super().__init__()
            self.exported: list[MetricsData] = []

        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
        ) -> MetricExportResult:
            self.exported.append(metrics_data)
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
            pass

    exporter = Keeping()
    _exporters.register_builtin("pushed", ExporterSpec(metric_exporter=lambda context: exporter))
    try:
        with capture_telemetry(
            metrics_exporter="pushed", metric_export_interval=86_400_000, instrumentations="none"
        ) as captured:
            with trace.get_tracer("test").start_as_current_span("upload"):
                pass
            captured.telemetry.shutdown(timeout_s=5)
    finally:
        _exporters.unregister_builtin("pushed")
    [last] = exporter.exported[-1:]
    points = {
        (metric.name, tuple(sorted(point.attributes.items()))): point.value
        for resource_metrics in last.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == semconv.OTEL_EXPORT_ITEMS
        for point in metric.data.data_points
    }
    key = (
        semconv.OTEL_EXPORT_ITEMS,
        tuple(
            sorted(
                {
                    semconv.OTEL_SIGNAL: "traces",
                    semconv.OTEL_EXPORTER: "memory",
                    semconv.OTEL_EXPORT_OUTCOME: "exported",
                }.items()
            )
        ),
    )
    assert points[key] == 1
