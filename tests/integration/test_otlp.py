"""OTLP over real gRPC and HTTP to receivers on 127.0.0.1, and a collector that is down or hangs."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from opentelemetry import metrics, trace

from pywats_otel import init_telemetry, semconv
from pywats_otel.testing.otlp import BlackHole, OTLPReceiver, free_port

SECRET = "s3cr3t-api-key-value"
PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_spans_metrics_and_logs_arrive_with_names_attributes_and_resource(
    protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One trace, two metrics and a log record arrive intact, with the resource and the headers."""
    with OTLPReceiver(protocol) as receiver:
        telemetry = init_telemetry(
            service_name="station-7",
            service_version="5.0.1",
            environment="lab",
            resource_attributes={"site": "oslo"},
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            otlp_headers=f"x-api-key={SECRET}",
            metrics_exporter="otlp",
            logs_level="INFO",
        )
        logging.getLogger().setLevel(logging.INFO)
        tracer = trace.get_tracer("pywats_otel.test")
        with (
            tracer.start_as_current_span("parent", attributes={"report.id": "r-1"}) as parent,
            tracer.start_as_current_span("child"),
        ):
            logging.getLogger("station").warning("converted %d steps", 1000)
        meter = metrics.get_meter("pywats_otel.test")
        meter.create_counter(semconv.QUEUE_ENQUEUED, description="Items put into a queue.").add(
            4, {semconv.QUEUE_NAME: "reports"}
        )
        meter.create_histogram(semconv.CONVERTER_DURATION, unit="s", description="d").record(
            0.5, {semconv.CONVERTER_NAME: "csv"}
        )
        assert telemetry.force_flush(timeout_s=10) is True
        assert receiver.wait_for(
            lambda r: (
                len(r.spans) >= 2
                and r.logs
                and {m.name for m in r.metrics}
                >= {semconv.QUEUE_ENQUEUED, semconv.CONVERTER_DURATION}
            )
        )
        status = telemetry.status()
        telemetry.shutdown(timeout_s=5)

    spans = {span.name: span for span in receiver.spans}
    trace_id = format(parent.get_span_context().trace_id, "032x")
    assert spans["parent"].trace_id == trace_id
    assert spans["child"].trace_id == trace_id
    assert spans["child"].parent_span_id == spans["parent"].span_id
    assert spans["parent"].parent_span_id == ""
    assert spans["parent"].attributes == {"report.id": "r-1"}
    resource = spans["parent"].resource
    assert resource["service.name"] == "station-7"
    assert resource["service.version"] == "5.0.1"
    assert resource["deployment.environment.name"] == "lab"
    assert resource["site"] == "oslo"
    assert resource["telemetry.sdk.language"] == "python"

    [counter] = [m for m in receiver.metrics if m.name == semconv.QUEUE_ENQUEUED][-1:]
    assert counter.kind == "sum"
    assert counter.points == [({semconv.QUEUE_NAME: "reports"}, 4)]
    [histogram] = [m for m in receiver.metrics if m.name == semconv.CONVERTER_DURATION][-1:]
    assert histogram.unit == "s"
    assert histogram.points == [({semconv.CONVERTER_NAME: "csv"}, (1, 0.5))]
    assert histogram.resource["service.name"] == "station-7"

    [record] = [log for log in receiver.logs if log.body == "converted 1000 steps"]
    assert record.trace_id == trace_id
    assert record.span_id == spans["child"].span_id
    assert record.severity_text == "WARN"
    assert record.scope == "station"
    assert record.resource["service.name"] == "station-7"

    assert all(headers.get("x-api-key") == SECRET for headers in receiver.headers)
    assert status["traces"][0]["exported"] >= 2
    assert status["traces"][0]["destination"].startswith(f"otlp {protocol} {receiver.endpoint}")
    assert SECRET not in repr(status)
    assert SECRET not in caplog.text


def _spin(stop: threading.Event, counts: list[int], errors: list[BaseException]) -> None:
    tracer = trace.get_tracer("pywats_otel.test")
    histogram = metrics.get_meter("pywats_otel.test").create_histogram("work.duration", unit="s")
    try:
        while not stop.is_set():
            with tracer.start_as_current_span("work"):
                histogram.record(0.001)
            counts[0] += 1
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("collector", ["closed-port", "black-hole"])
def test_dead_collector_never_blocks_nor_floods_and_shutdown_is_bounded(
    protocol: str,
    collector: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Spans keep flowing while every export fails; one warning per exporter; shutdown in ~3 s."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "100")
    hole = BlackHole() if collector == "black-hole" else None
    endpoint = hole.endpoint if hole else f"http://127.0.0.1:{free_port()}"
    try:
        with caplog.at_level(logging.INFO):
            telemetry = init_telemetry(
                otlp_endpoint=endpoint,
                otlp_protocol=protocol,
                otlp_headers=f"authorization=Bearer {SECRET}",
                otlp_timeout=1000,
                metrics_exporter="otlp",
                metric_export_interval=200,
                logs_exporter="otlp",
                prometheus_port=0,
            )
            stop, counts, errors = threading.Event(), [0], []
            worker = threading.Thread(target=_spin, args=(stop, counts, errors))
            worker.start()
            # Long enough for several failed exports of every signal at 1 s each.
            time.sleep(3.5)
            done_while_failing = counts[0]
            stop.set()
            worker.join(5)
            logging.getLogger("station").warning("one more record for the dead collector")
            status = telemetry.status()
            started = time.monotonic()
            telemetry.shutdown(timeout_s=3)
            elapsed = time.monotonic() - started
    finally:
        if hole:
            hole.close()

    assert errors == []
    assert not worker.is_alive()
    # The caller went on working the whole time (thousands of spans, not a handful).
    assert done_while_failing > 500
    if hole:
        assert hole.accepted.is_set()  # the exporters did connect and hang
    for signal in ("traces", "metrics"):
        [entry] = status[signal]
        assert entry["exported"] == 0
        assert entry["failed_exports"] >= 1
        assert entry["failed"] > 0
        assert entry["last_error"]
    # Shutdown is bounded by its timeout (the exporters alone would wait on each export).
    assert elapsed < 3.0 + 1.5
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    failure_lines = [r.getMessage() for r in records if "export to" in r.getMessage()]
    per_signal = {
        signal: [line for line in failure_lines if line.startswith(f"pywats_otel: {signal} export")]
        for signal in ("traces", "metrics", "logs")
    }
    assert len(per_signal["traces"]) == 1, failure_lines
    assert len(per_signal["metrics"]) <= 1, failure_lines
    assert len(per_signal["logs"]) <= 1, failure_lines
    # The SDK's own per-batch errors are taken into status, not printed again and again.
    sdk_lines = [r for r in records if r.name.startswith("opentelemetry.exporter")]
    assert len(sdk_lines) <= 3, [r.getMessage() for r in sdk_lines]
    assert SECRET not in caplog.text
    assert SECRET not in repr(status)


def test_log_export_to_dead_collector_does_not_feed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the collector down, the exporter's own failures are never exported as log records."""
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    telemetry = init_telemetry(
        logs_exporter="otlp",
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",
        otlp_timeout=200,
        metrics_exporter="none",
        logs_level="DEBUG",
    )
    logging.getLogger().setLevel(logging.DEBUG)
    for index in range(200):
        logging.getLogger("station").info("record %d", index)
    telemetry.force_flush(timeout_s=5)
    time.sleep(0.5)  # several more export rounds in which only the SDK could add records
    telemetry.force_flush(timeout_s=5)
    [logs] = telemetry.status()["logs"]
    assert logs["exported"] == 0
    assert logs["failed"] + logs["dropped"] == 200


def test_a_header_name_in_capitals_reaches_a_grpc_collector() -> None:
    """gRPC metadata takes lower-case names only: Authorization=... failed every export late
    with "Invalid metadata"; the name is sent in lower case, as HTTP allows."""
    with OTLPReceiver("grpc") as receiver:
        telemetry = init_telemetry(
            otlp_endpoint=receiver.endpoint,
            otlp_headers="Authorization=Bearer%20t0ken",
            metrics_exporter="none",
            logs_exporter="none",
        )
        trace.get_tracer("pywats_otel.test").start_span("upload").end()
        assert telemetry.force_flush(timeout_s=10)
        assert receiver.wait_for(lambda r: bool(r.spans))
        [traces] = telemetry.status()["traces"]
        telemetry.shutdown(timeout_s=5)
    assert [span.name for span in receiver.spans] == ["upload"]
    assert receiver.headers[0]["authorization"] == "Bearer t0ken"
    assert (traces["exported"], traces["failed"]) == (1, 0)
