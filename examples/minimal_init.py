"""The smallest useful set-up: one call at start-up, a span, and where everything goes.

Run: python examples/minimal_init.py
"""

from __future__ import annotations

import logging

from opentelemetry import trace

from pywats_otel import init_telemetry


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Port 0 picks a free port so the example never collides with a running Prometheus.
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0)

    tracer = trace.get_tracer("example")
    with tracer.start_as_current_span("convert report.csv") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")

    status = telemetry.status()
    print(f"trace id: {trace_id}")
    for signal in ("traces", "metrics", "logs"):
        destinations = [exporter["destination"] for exporter in status[signal]]
        print(f"{signal} -> {', '.join(destinations) or 'none'}")
    print(f"metrics url: {telemetry.metrics_url}")
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
