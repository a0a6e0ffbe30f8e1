"""Log records over real OTLP (gRPC, HTTP) keep their span's IDs; a dead collector is no storm."""

from __future__ import annotations

import collections
import logging
import threading
import tracemalloc
from typing import Any

import pytest
from opentelemetry import trace

from pywats_otel import init_telemetry
from pywats_otel._pipeline.log_handler import TelemetryLogHandler
from pywats_otel.testing.otlp import BlackHole, OTLPReceiver, free_port

PROTOCOLS = ["grpc", "http/protobuf"]
# SeverityNumber of the OTLP log data model.
SEVERITY_INFO = 9
SEVERITY_ERROR = 17


class Counter(logging.Handler):
    """Counts the records it sees, by logger name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.names: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.names.append(record.name)


def _parse_report() -> None:
    raise ValueError("step 12 has no limits")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_record_made_in_a_span_arrives_with_its_ids_severity_logger_and_exception(
    protocol: str,
) -> None:
    """The receiver gets the span's trace and span IDs, ERROR, the logger name and the stack."""
    with OTLPReceiver(protocol) as receiver:
        telemetry = init_telemetry(
            service_name="station-7",
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            metrics_exporter="none",
            logs_level="INFO",
        )
        logging.getLogger().setLevel(logging.INFO)
        logger = logging.getLogger("station.converter")
        tracer = trace.get_tracer("test")
        with (
            tracer.start_as_current_span("convert teradyne-ict"),
            tracer.start_as_current_span("parse") as parse,
        ):
            try:
                _parse_report()
            except ValueError:
                logger.exception("conversion failed", extra={"report_id": "r-42"})
        logger.info("idle")
        assert telemetry.force_flush(timeout_s=10)
        assert receiver.wait_for(
            lambda r: len(r.logs) >= 2 and any(s.name == "parse" for s in r.spans)
        )
        telemetry.shutdown(timeout_s=5)

    context = parse.get_span_context()
    records = {record.body: record for record in receiver.logs}
    failed = records["conversion failed"]
    assert failed.trace_id == format(context.trace_id, "032x")
    assert failed.span_id == format(context.span_id, "016x")
    [span] = [span for span in receiver.spans if span.name == "parse"]
    assert (failed.trace_id, failed.span_id) == (span.trace_id, span.span_id)
    assert failed.severity_text == "ERROR"
    assert failed.severity_number == SEVERITY_ERROR
    assert failed.scope == "station.converter"
    assert failed.resource["service.name"] == "station-7"
    attributes = failed.attributes
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "step 12 has no limits"
    stacktrace = attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert "in _parse_report" in stacktrace
    assert attributes["report_id"] == "r-42"
    # The correlation fields are the record's own IDs, not sent again as attributes.
    assert not {"trace_id", "span_id", "correlation_id", "trace_flags"} & set(attributes)

    idle = records["idle"]
    assert (idle.trace_id, idle.span_id) == ("", "")
    assert idle.severity_number == SEVERITY_INFO


def _log_hard(warmup: int, total: int) -> tuple[int, int, int]:
    """Log warmup + total records in a span; traced memory after warmup, at the end and peak."""
    logger = logging.getLogger("station.load")
    tracemalloc.start()
    try:
        with trace.get_tracer("test").start_as_current_span("load"):
            # Enough to fill the batch queue: from here on it holds as much as it ever will.
            for index in range(warmup):
                logger.info("record %d", index)
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for index in range(total):
                logger.info("record %d", index)
            after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return before, after, peak


@pytest.mark.parametrize(
    ("protocol", "collector"),
    [("grpc", "closed-port"), ("http/protobuf", "closed-port"), ("http/protobuf", "black-hole")],
)
def test_logging_hard_at_a_dead_collector_neither_recurses_nor_grows_memory(
    protocol: str, collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50k records at a dead collector: no recursion, no feedback, memory bounded by the queue."""
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    hole = BlackHole() if collector == "black-hole" else None
    endpoint = hole.endpoint if hole else f"http://127.0.0.1:{free_port()}"
    telemetry = init_telemetry(
        otlp_endpoint=endpoint,
        otlp_protocol=protocol,
        otlp_timeout=300,
        traces_exporter="none",
        metrics_exporter="none",
        logs_exporter="otlp",
        logs_level="INFO",
    )
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    counter = Counter()
    # Only the telemetry's handler and a counter: pytest's capture would keep every record.
    saved = list(root.handlers)
    root.handlers[:] = [h for h in saved if isinstance(h, TelemetryLogHandler)] + [counter]
    # The contrib handler reports re-entered emit() calls on this logger, which does not
    # propagate; a recursion would show up here.
    internal = logging.getLogger("opentelemetry.instrumentation.logging.handler.internal")
    recursions = Counter()
    internal.addHandler(recursions)
    # What reaches the batch processor, by logger (instrumentation scope) name: only the
    # program's records may, never the SDK's or the exporters' own.
    [processor] = telemetry._parts.batch_processors
    reached: collections.Counter[str] = collections.Counter()
    on_emit = processor.on_emit

    def spy(log_record: Any) -> None:
        reached[log_record.instrumentation_scope.name] += 1
        on_emit(log_record)

    monkeypatch.setattr(processor, "on_emit", spy)
    warmup, total = 5_000, 50_000
    try:
        before, after, peak = _log_hard(warmup, total)
        shut_down = telemetry.shutdown(timeout_s=10)
        status = telemetry.status()
    finally:
        root.handlers[:] = saved
        internal.removeHandler(recursions)
        if hole:
            hole.close()

    [logs] = status["logs"]
    assert shut_down
    assert recursions.names == []
    # Had the records piled up, 50k of them would hold over 100 MB (above 2 kB each); what
    # stays is at most one full batch queue (2048 records).
    assert after - before < 8 * 1024 * 1024, (before, after, peak)
    # The peak adds a full queue and one batch in flight (serialised for the wire).
    assert peak - before < 16 * 1024 * 1024, (before, after, peak)
    assert logs["exported"] == 0
    if hole:
        # Each export hangs until its timeout: the queue fills and records are dropped (how
        # many depends on how fast this machine logs meanwhile; the sum below is exact).
        assert logs["dropped"] > 0
    assert reached == {"station.load": warmup + total}
    # Every record is dropped or failed; the drop count is read just before the SDK's own
    # check of a full queue, so an export taking a batch in between over-counts a few.
    assert warmup + total <= logs["dropped"] + logs["failed"] <= warmup + total + 200
    own = [name for name in counter.names if not name.startswith("station.")]
    assert len(own) <= 20, own
