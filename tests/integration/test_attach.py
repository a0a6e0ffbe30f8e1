"""init_telemetry() after someone else set the SDK providers (a framework, another
configurator): pywats_otel adds /traces, the /metrics reader and its log handler to them,
exports nothing twice, reports the truth, and leaves those providers running at its shutdown."""

from __future__ import annotations

import json
import logging
import urllib.request

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pywats_otel import init_telemetry


def test_pywats_otel_adds_to_providers_set_before_it() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    theirs = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[theirs], shutdown_on_exit=False)
    metrics.set_meter_provider(meter_provider)
    records = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider(shutdown_on_exit=False)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    _logs.set_logger_provider(logger_provider)

    telemetry = init_telemetry(
        service_name="station-7",
        otlp_endpoint="http://127.0.0.1:9",  # would be a second export, if it were added
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        instrumentations="logging",
    )
    with trace.get_tracer("station").start_as_current_span("upload report") as span:
        logging.getLogger("station").warning("uploaded")
    metrics.get_meter("station").create_counter("station.uploads").add(2)

    # Each span and record once, through the providers' own exporters.
    assert [s.name for s in spans.get_finished_spans()] == ["upload report"]
    [record] = records.get_finished_logs()
    assert record.log_record.body == "uploaded"
    # /metrics and /traces are served from those providers.
    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        scraped = response.read().decode()
    assert "station_uploads_total" in scraped
    request = urllib.request.Request(telemetry.traces_url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        [kept] = json.load(response)["traces"]
    assert kept["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    status = telemetry.status()
    assert [entry["destination"] for entry in status["traces"]] == [
        "SimpleSpanProcessor(InMemorySpanExporter)"
    ]
    assert [entry["name"] for entry in status["metrics"]] == [
        "prometheus",
        "set before pywats_otel",
    ]
    assert status["metrics"][1]["destination"] == "InMemoryMetricReader"
    assert [entry["destination"] for entry in status["logs"]] == [
        "SimpleLogRecordProcessor(InMemoryLogRecordExporter)"
    ]

    assert telemetry.shutdown(timeout_s=5) is True
    # Their providers still work; only pywats_otel's reader left.
    with trace.get_tracer("station").start_as_current_span("after"):
        pass
    assert [s.name for s in spans.get_finished_spans()] == ["upload report", "after"]
    assert meter_provider._measurement_consumer._reader_storages.keys() == {theirs}
    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()
