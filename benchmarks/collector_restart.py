"""How soon export resumes when the collector comes back: three OTLP/gRPC exporters (traces,
metrics, logs) on one collector that goes away for a while and returns on the same port.

    python -m benchmarks.collector_restart [--outages 20,60] [--repeats 2] [--delay-ms 5000]

A station process emits spans, log records and a counter without pause (batch processors and
the metric reader at ``--delay-ms``); the collector, a real OTLP/gRPC receiver in this process,
is up until every signal has arrived once, then stopped for each outage in turn and restarted.
The figure is the time from the restart to the first item of each signal received. Two
variants, each in its own interpreter: ``pywats_otel`` (init_telemetry(), whose gRPC exporters
get their own subchannel pools and a short reconnect backoff) and ``bare SDK`` (the same
exporters and processors built by hand with the SDK's defaults). The goal is that export
resumes within the batch delay + 5 s of the collector's return. A check of recovery, not a
figure to compare between machines: run it on the machine you care about.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from pywats_otel.testing.otlp import OTLPReceiver, free_port

SIGNALS = ("traces", "metrics", "logs")

_STATION = r"""
import logging, os, sys, threading, time
variant, endpoint, delay_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = str(delay_ms)
os.environ["OTEL_BLRP_SCHEDULE_DELAY"] = str(delay_ms)
from opentelemetry import metrics, trace
if variant == "pywats_otel":
    from pywats_otel import init_telemetry
    telemetry = init_telemetry(
        service_name="bench-restart", otlp_endpoint=endpoint, traces_exporter="otlp",
        metrics_exporter="otlp", logs_exporter="otlp", metric_export_interval=delay_ms,
        instrumentations="none", prometheus_host="127.0.0.1", prometheus_port=0)
    stop = lambda: telemetry.shutdown(timeout_s=2)
    emit_log = logging.getLogger("bench").warning
else:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint, insecure=True)))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint, insecure=True), export_interval_millis=delay_ms)])
    metrics.set_meter_provider(meter_provider)
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint, insecure=True)))
    set_logger_provider(logger_provider)
    logging.getLogger("bench").addHandler(LoggingHandler(logger_provider=logger_provider))
    logging.getLogger("bench").propagate = False
    emit_log = logging.getLogger("bench").warning
    def stop():
        tracer_provider.shutdown(); meter_provider.shutdown(); logger_provider.shutdown()
# The exporters' own failure messages are not what this measures.
logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
logging.getLogger("pywats_otel").setLevel(logging.CRITICAL)
tracer = trace.get_tracer("bench")
counter = metrics.get_meter("bench").create_counter("bench.ticks")
done = threading.Event()
def emit():
    while not done.is_set():
        with tracer.start_as_current_span("tick"):
            pass
        counter.add(1)
        emit_log("tick")
        done.wait(0.05)
threading.Thread(target=emit, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
done.set()
stop()
"""


def _counts(receiver: OTLPReceiver) -> dict[str, int]:
    return {
        "traces": len(receiver.spans),
        "metrics": len(receiver.metrics),
        "logs": len(receiver.logs),
    }


def _wait_all(receiver: OTLPReceiver, timeout_s: float) -> dict[str, float | None]:
    """Seconds until each signal's first item arrives (None: not within ``timeout_s``)."""
    started = time.monotonic()
    found: dict[str, float | None] = dict.fromkeys(SIGNALS)
    while time.monotonic() - started < timeout_s and None in found.values():
        counts = _counts(receiver)
        for signal in SIGNALS:
            if found[signal] is None and counts[signal] > 0:
                found[signal] = time.monotonic() - started
        time.sleep(0.02)
    return found


def run_variant(
    variant: str, outages: list[float], delay_ms: int, wait_s: float
) -> list[dict[str, object]]:
    port = free_port()
    receiver = OTLPReceiver("grpc", port=port).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    station = subprocess.Popen(
        [sys.executable, "-c", _STATION, variant, receiver.endpoint, str(delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    rows: list[dict[str, object]] = []
    try:
        assert station.stdout is not None
        assert station.stdin is not None
        station.stdout.readline()
        warm = _wait_all(receiver, wait_s)
        if None in warm.values():
            raise RuntimeError(f"{variant}: not every signal arrived before the outage: {warm}")
        for outage in outages:
            receiver.stop()
            time.sleep(outage)
            receiver.clear()
            receiver.start()
            resumed = _wait_all(receiver, wait_s)
            rows.append({"variant": variant, "outage_s": outage, **resumed})
            # Let every exporter settle on the healthy collector before the next outage.
            time.sleep(2 * delay_ms / 1000)
        station.stdin.write("stop\n")
        station.stdin.flush()
        station.wait(30)
    finally:
        if station.poll() is None:
            station.kill()
            station.wait(10)
        receiver.stop()
    return rows


def _cell(value: object) -> str:
    return "not within the wait" if value is None else f"{value:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collector_restart")
    parser.add_argument("--outages", default="20,60", help="outage lengths in seconds (20,60)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant (2)")
    parser.add_argument(
        "--delay-ms", type=int, default=5000, help="batch delay and metric interval (5000)"
    )
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for resume")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    outages = [float(value) for value in args.outages.split(",") if value.strip()]
    rows: list[dict[str, object]] = []
    variants = ["pywats_otel", "bare SDK"]
    for _ in range(args.repeats):
        for variant in variants:
            rows += run_variant(variant, outages, args.delay_ms, args.wait)
        variants.reverse()
    goal = args.delay_ms / 1000 + 5
    print(f"resume after the collector's return (goal: within {goal:.0f} s = batch delay + 5 s)")
    print("| variant | outage | traces | metrics | logs |")
    print("|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (str(r["variant"]), float(r["outage_s"]))):  # type: ignore[arg-type]
        print(
            f"| {row['variant']} | {row['outage_s']:.0f} s | {_cell(row['traces'])} "
            f"| {_cell(row['metrics'])} | {_cell(row['logs'])} |"
        )
    for variant in ("pywats_otel", "bare SDK"):
        values = [
            float(row[signal])  # type: ignore[arg-type]
            for row in rows
            if row["variant"] == variant
            for signal in SIGNALS
            if row[signal] is not None
        ]
        missing = sum(
            1 for row in rows if row["variant"] == variant for s in SIGNALS if row[s] is None
        )
        if values:
            within = sum(1 for value in values if value <= goal)
            print(
                f"{variant}: median {statistics.median(values):.1f} s, worst {max(values):.1f} s, "
                f"{within} of {len(values) + missing} within the goal"
            )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
