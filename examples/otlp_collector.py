"""Send traces, metrics and logs to an OpenTelemetry Collector over OTLP.

Run: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 python examples/otlp_collector.py
(OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and port 4318 for OTLP over HTTP.)
"""

from __future__ import annotations

import logging
import os

from opentelemetry import metrics, trace

from pywats_otel import init_telemetry, semconv


def main() -> None:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")
    telemetry = init_telemetry(
        service_name="example-station",
        otlp_endpoint=endpoint,
        metrics_exporter="otlp",  # only OTLP here; add "prometheus" to serve /metrics too
    )
    logging.getLogger().setLevel(logging.INFO)

    tracer = trace.get_tracer("example")
    meter = metrics.get_meter("example")
    enqueued = meter.create_counter(
        semconv.QUEUE_ENQUEUED, unit="{item}", description="Items put into a queue."
    )
    with tracer.start_as_current_span("upload report-42") as span:
        enqueued.add(1, {semconv.QUEUE_NAME: "reports"})
        logging.getLogger("example").info("report-42 uploaded")
        trace_id = format(span.get_span_context().trace_id, "032x")

    flushed = telemetry.force_flush(timeout_s=10)
    status = telemetry.status()
    print(f"trace id: {trace_id}")
    print(f"flushed: {flushed}")
    for signal in ("traces", "metrics", "logs"):
        for exporter in status[signal]:
            print(
                f"{signal}: {exporter['destination']} exported={exporter['exported']} "
                f"failed={exporter['failed']}"
            )
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
