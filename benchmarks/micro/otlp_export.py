"""Micro: the OTLP/gRPC export of a batch of spans, per span."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from benchmarks import _sink
from benchmarks._harness import CaseResult, Comparison, interleave
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import GOAL_SDK, OURS
from pywats_otel import converter, queue, semconv

ORDER = 90


def run(context: Context) -> list[CaseResult]:
    return [otlp_export(context.rounds, 2 if context.quick else 10, context.path)]


def _pipeline_spans(count: int, path: str) -> list[Any]:
    """Finished spans as the station makes them: convert, send, process, an HTTP CLIENT span."""
    from pywats_otel.testing import capture_telemetry

    client: dict[str, Any] = {
        semconv.HTTP_REQUEST_METHOD: "POST",
        semconv.URL_FULL: "http://127.0.0.1:8080/api/reports",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: 8080,
        semconv.NETWORK_PEER_ADDRESS: "127.0.0.1",
        semconv.NETWORK_PEER_PORT: 8080,
        semconv.HTTP_RESPONSE_STATUS_CODE: 201,
        semconv.NETWORK_PROTOCOL_VERSION: "1.1",
    }
    with capture_telemetry(metrics_exporter="none", logs_exporter="none") as captured:
        tracer = trace.get_tracer("bench.export")
        for index in range(count // 4):
            carrier: dict[str, str] = {}
            with converter.conversion("functional-xml", source=path) as run:
                with queue.enqueue("reports", carrier, item_id=f"r-{index}"):
                    pass
                run.records = 1000
            with (
                queue.process("reports", carrier, item_id=f"r-{index}", attempt=1),
                tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=client),
            ):
                pass
        spans = captured.spans()
    return spans


def otlp_export(rounds: int, batches: int, path: str) -> CaseResult:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from pywats_otel._pipeline.export import CountingSpanExporter, ExportStats

    spans = _pipeline_spans(512, path)
    sink, endpoint = _sink.start()
    try:
        assert sink.stdout is not None
        assert sink.stdin is not None
        stock = OTLPSpanExporter(endpoint=endpoint, insecure=True)
        wrapped = CountingSpanExporter(
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            ExportStats("traces", "otlp", endpoint),
        )
        per_span = len(spans)
        case = interleave(
            SECTION,
            "OTLP/gRPC export of a batch of spans (per span)",
            {
                "encoding only (SDK's encode_spans)": lambda: encode_spans(spans),
                "OTLP/gRPC exporter (SDK)": lambda: stock.export(spans),
                OURS: lambda: wrapped.export(spans),
            },
            baseline="OTLP/gRPC exporter (SDK)",
            ops=batches,
            rounds=rounds,
            warmup_ops=2,
        )
        stock.shutdown()
        wrapped.shutdown()
        sink.stdin.close()
        sink.wait(10)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait(5)
    # The harness times a call; a call exports the whole batch.
    for name, values in case.samples.items():
        case.samples[name] = [value / per_span for value in values]
    case.unit = "µs/span"
    case.no_ratio = frozenset({"encoding only (SDK's encode_spans)"})
    case.comparisons.append(
        Comparison(
            "OTLP export: pywats_otel's counting exporter / the SDK's exporter",
            OURS,
            "OTLP/gRPC exporter (SDK)",
            goal=GOAL_SDK,
            goal_text="<= 1.10",
        )
    )
    case.notes.append(
        f"batches of {per_span} spans as the station makes them (convert, send, process, an "
        "HTTP CLIENT span), exported to a sink process that answers without decoding; this "
        "work runs in the BatchSpanProcessor's thread, off the caller's path but on the "
        "station's CPU"
    )
    return case
