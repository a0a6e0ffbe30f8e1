"""What the benchmark variants run on: the bare SDK built by hand, pywats_otel's
init_telemetry(), and the prometheus_client metrics the original observability plan proposed.

Every telemetry variant exports its spans to a counting no-op exporter behind the SDK's
BatchSpanProcessor, with a queue large enough that no span is dropped in a round (the default
queue holds 2048 spans, a round makes many more): the cost of recording spans is timed, not the
cheaper path of dropping them, and each case checks afterwards that none was dropped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Histogram

from pywats_otel import init_telemetry, semconv
from pywats_otel._config import exporters as _exporters
from pywats_otel._pipeline.telemetry import Telemetry
from pywats_otel.exporters import ExporterSpec
from pywats_otel.testing import reset_telemetry

#: Spans a BatchSpanProcessor of the benchmarks may hold: more than any round makes.
SPAN_QUEUE = 1_000_000
NULL_EXPORTER = "bench-null"


class CountingNullExporter(SpanExporter):
    """Accepts spans and only counts them, so that no exporter cost blurs the record path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class BareSDK:
    """A TracerProvider (BatchSpanProcessor to a counting no-op exporter) and a MeterProvider
    (a Prometheus reader on a private registry) built by hand, as a developer would."""

    def __init__(self) -> None:
        self.exporter = CountingNullExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(self.exporter, max_queue_size=SPAN_QUEUE)
        )
        self.meter_provider = MeterProvider(
            metric_readers=[PrometheusMetricReader(registry=CollectorRegistry())],
            shutdown_on_exit=False,
        )
        self.tracer = self.tracer_provider.get_tracer("bench.bare")
        self.meter = self.meter_provider.get_meter("bench.bare")

    def counter(self, name: str) -> Any:
        info = semconv.metric_info(name)
        return self.meter.create_counter(name, unit=info.unit, description=info.description)

    def histogram(self, name: str) -> Any:
        info = semconv.metric_info(name)
        return self.meter.create_histogram(
            name,
            unit=info.unit,
            description=info.description,
            explicit_bucket_boundaries_advisory=info.buckets,
        )

    def dropped(self, made: int) -> int:
        """Spans made but not exported, after a flush."""
        self.tracer_provider.force_flush()
        return made - self.exporter.exported

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class PywatsOtel:
    """init_telemetry() with spans to a counting no-op exporter and metrics at /metrics."""

    def __init__(self, **settings: Any) -> None:
        self.exporter = CountingNullExporter()
        exporter = self.exporter
        _exporters.register_builtin(
            NULL_EXPORTER, ExporterSpec(span_exporter=lambda context: exporter)
        )
        reset_telemetry()
        settings = {
            "service_name": "bench-station",
            "traces_exporter": NULL_EXPORTER,
            "metrics_exporter": "prometheus",
            "logs_exporter": "none",
            "prometheus_host": "127.0.0.1",
            "prometheus_port": 0,
            "instrumentations": "none",
            **settings,
        }
        # The bootstrap's BatchSpanProcessor reads its queue size from the SDK's variable.
        previous = os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE")
        os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(SPAN_QUEUE)
        try:
            self.telemetry: Telemetry = init_telemetry(**settings)
        finally:
            if previous is None:
                del os.environ["OTEL_BSP_MAX_QUEUE_SIZE"]
            else:
                os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = previous

    def dropped(self) -> int:
        self.telemetry.force_flush(timeout_s=10)
        return sum(entry["dropped"] for entry in self.telemetry.status()["traces"])

    def shutdown(self) -> None:
        self.telemetry.shutdown(timeout_s=5)
        reset_telemetry()
        _exporters.unregister_builtin(NULL_EXPORTER)


# -- the original plan: prometheus_client metrics, module-level, same labels and buckets -------

_plan_registry = CollectorRegistry()


def _label(attribute: str) -> str:
    return attribute.replace(".", "_")


def _prom_counter(name: str, labels: tuple[str, ...]) -> Counter:
    info = semconv.metric_info(name)
    # prometheus_client adds _total itself.
    plain = semconv.prometheus_name(info).removesuffix("_total")
    return Counter(plain, info.description, [_label(a) for a in labels], registry=_plan_registry)


def _prom_histogram(name: str, labels: tuple[str, ...]) -> Histogram:
    info = semconv.metric_info(name)
    assert info.buckets is not None
    return Histogram(
        semconv.prometheus_name(info),
        info.description,
        [_label(a) for a in labels],
        buckets=info.buckets,
        registry=_plan_registry,
    )


PLAN_QUEUE_ENQUEUED = _prom_counter(semconv.QUEUE_ENQUEUED, (semconv.QUEUE_NAME,))
PLAN_QUEUE_PROCESSED = _prom_counter(
    semconv.QUEUE_PROCESSED, (semconv.QUEUE_NAME, semconv.QUEUE_OUTCOME)
)
PLAN_QUEUE_PROCESSING = _prom_histogram(
    semconv.QUEUE_PROCESSING_DURATION, (semconv.QUEUE_NAME, semconv.QUEUE_OUTCOME)
)
PLAN_QUEUE_WAIT = _prom_histogram(semconv.QUEUE_WAIT_DURATION, (semconv.QUEUE_NAME,))
PLAN_CONVERTER_EXECUTIONS = _prom_counter(
    semconv.CONVERTER_EXECUTIONS, (semconv.CONVERTER_NAME, semconv.CONVERTER_STATUS)
)
PLAN_CONVERTER_DURATION = _prom_histogram(
    semconv.CONVERTER_DURATION, (semconv.CONVERTER_NAME, semconv.CONVERTER_STATUS)
)
PLAN_HTTP_DURATION = _prom_histogram(
    semconv.HTTP_CLIENT_REQUEST_DURATION,
    (
        semconv.HTTP_REQUEST_METHOD,
        semconv.HTTP_RESPONSE_STATUS_CODE,
        semconv.SERVER_ADDRESS,
        semconv.SERVER_PORT,
    ),
)


def in_process_httpx_client() -> Any:
    """An httpx client on httpx's own transport whose connection pool answers in-process: the
    whole client path of a request runs (request building, transport, response), no socket."""
    import httpcore
    import httpx

    class Pool:
        def handle_request(self, request: Any) -> Any:
            return httpcore.Response(
                200,
                headers=[(b"Content-Length", b"2")],
                content=b"ok",
                extensions={"http_version": b"HTTP/1.1"},
            )

        def close(self) -> None:
            pass

    client = httpx.Client()
    client._transport._pool = Pool()  # type: ignore[attr-defined]
    return client
