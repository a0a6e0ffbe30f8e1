"""One operation, one variant, N times: ``python -m benchmarks.counts._program --operation O
--variant V --n N [--otlp-http URL --otlp-grpc URL]``, run under cachegrind by the
``operations`` case for two values of N.

The operations are those of the micro cases, each written the way each peer writes it (see
``VARIANTS``); the floor is what no telemetry library can beat: a dict and a lock for the metric
records, a list of tuples for the spans, a formatted ``traceparent`` for the carrier. Start-up
and 200 warm-up calls come before the N calls; the span processors hold their batches until
exit (``benchmarks._instructions.HELD_ENV``) and export them then, which counts per operation.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any


def work() -> int:
    """An operation's own work: the same stand-in as the micro cases' (``_common.work``)."""
    return sum(range(20))


Operation = Callable[[], object]

NONE = "no telemetry"
OURS = "pywats_otel"
BARE = "bare SDK by hand"
STOCK = "stock instrumentor"
OURS_ON_STOCK = "pywats_otel on the stock instrumentor"
PLAN = "prometheus_client (metrics only)"
FASTOTEL = "fastotel"
FLOOR = "the floor"

OPERATIONS = ("span", "queue", "converter", "httpx", "export")
#: operation -> the variants that apply to it, in the order of the table's columns.
VARIANTS: dict[str, tuple[str, ...]] = {
    "span": (NONE, OURS, BARE, PLAN, FLOOR),
    "queue": (NONE, OURS, BARE, PLAN, FLOOR),
    "converter": (NONE, OURS, BARE, PLAN, FLOOR),
    "httpx": (NONE, OURS, BARE, STOCK, OURS_ON_STOCK, PLAN, FLOOR),
    "export": (NONE, OURS, BARE, FASTOTEL, FLOOR),
}
WARM_UP = 200


# -- the floor ------------------------------------------------------------------------------


class _FloorMetrics:
    """A counter and a histogram as a dict and a lock: what a metric record cannot undercut."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.lock = threading.Lock()
        self.counts: dict[tuple[Any, ...], int] = {}
        self.histograms: dict[tuple[Any, ...], list[float]] = {}
        self.buckets = buckets

    def add(self, key: tuple[Any, ...]) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def record(self, key: tuple[Any, ...], value: float) -> None:
        with self.lock:
            row = self.histograms.get(key)
            if row is None:
                row = self.histograms[key] = [0.0] * (len(self.buckets) + 3)
            row[bisect.bisect_left(self.buckets, value)] += 1
            row[-2] += value
            row[-1] += 1


_spans: list[tuple[Any, ...]] = []


def _floor_span(
    name: str, parent: tuple[int, int] | None, attributes: dict[str, Any]
) -> tuple[int, int]:
    trace_id = parent[0] if parent is not None else random.getrandbits(128)
    span_id = random.getrandbits(64)
    start = time.time_ns()
    _spans.append(
        (name, trace_id, span_id, parent[1] if parent else 0, start, time.time_ns(), attributes)
    )
    return trace_id, span_id


def _floor(operation: str) -> Operation:
    metrics = _FloorMetrics((0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
    if operation in {"span", "converter"}:

        def run() -> None:
            _floor_span("convert csv", None, {"pywats.converter.name": "csv"})
            work()
            key = ("csv", "success")
            metrics.add(key)
            metrics.record(key, 0.01)

        return run
    if operation == "queue":

        def queue() -> None:
            trace_id, span_id = _floor_span("send reports", None, {"q": "reports"})
            carrier = {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}
            work()
            metrics.add(("reports",))
            _, trace_text, parent_text, _ = carrier["traceparent"].split("-")
            _floor_span("process reports", (int(trace_text, 16), int(parent_text, 16)), {})
            work()
            metrics.add(("reports", "success"))
            metrics.record(("reports", "success"), 0.01)
            metrics.record(("reports",), 0.01)

        return queue
    raise ValueError(operation)


# -- the operations, per variant ----------------------------------------------------------------


def _set_up(variant: str, operation: str, otlp_http: str, otlp_grpc: str) -> Any:
    """Providers for the variant: (tracer, meter), or None where the variant needs none."""
    from benchmarks import _setups

    if variant in (OURS, OURS_ON_STOCK):
        extra: dict[str, Any] = {}
        if operation == "export":
            # A station with a collector: init_telemetry()'s OTLP exporter (gRPC by default).
            extra = {
                "traces_exporter": "otlp",
                "otlp_endpoint": otlp_grpc,
                "metrics_exporter": "none",
            }
        if operation == "httpx":
            extra["httpx_instrumentation"] = "stock" if variant == OURS_ON_STOCK else "pywats_otel"
        return _setups.PywatsOtel(**extra)
    if variant in (BARE, STOCK):
        bare = _setups.BareSDK()
        if operation == "export":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            bare.tracer_provider = TracerProvider(shutdown_on_exit=False)
            bare.tracer_provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_grpc, insecure=True))
            )
            bare.tracer = bare.tracer_provider.get_tracer("bench.bare")
        return bare
    if variant == FASTOTEL:
        import fastotel
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(fastotel.OTLPSpanProcessor(endpoint=otlp_http + "/v1/traces"))
        return provider
    return None


def _span_operation(tracer: Any, meter: Any) -> Operation:
    from pywats_otel import semconv
    from pywats_otel._base.otel import create_instrument

    counter = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    histogram = create_instrument(meter, semconv.CONVERTER_DURATION)
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            work()
        counter.add(1, attributes)
        histogram.record(0.01, attributes)

    return operation


def _export_operation(tracer: Any) -> Operation:
    """A station's span as it is exported: a converter span with its four attributes."""
    attributes = {
        "pywats.converter.name": "csv",
        "pywats.converter.file.name": "ict-0001.csv",
        "pywats.converter.file.extension": "csv",
        "pywats.converter.status": "success",
    }

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            work()

    return operation


URL = "http://127.0.0.1:8080/api/Report/WSJF?station=7"


def _httpx_operation(variant: str, setup: Any) -> Operation:

    from benchmarks import _setups
    from pywats_otel import semconv

    client = _setups.in_process_httpx_client()
    if variant == STOCK:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        from pywats_otel.instrumentation import _httpx_stock

        with _httpx_stock._stable_http_semconv():
            HTTPXClientInstrumentor().instrument(
                tracer_provider=setup.tracer_provider, meter_provider=setup.meter_provider
            )
    elif variant in (OURS, OURS_ON_STOCK):
        from pywats_otel.instrumentation.httpx import turn_on

        turn_on(setup.telemetry.settings)
    if variant == BARE:
        from benchmarks.micro._operations import httpx_by_hand

        duration = setup.histogram(semconv.HTTP_CLIENT_REQUEST_DURATION)
        return httpx_by_hand(client, URL, setup.tracer, duration)
    if variant == PLAN:

        def plan() -> None:
            started = time.perf_counter()
            response = client.get(URL)
            _setups.PLAN_HTTP_DURATION.labels(
                "GET", str(response.status_code), "127.0.0.1", "8080"
            ).observe(time.perf_counter() - started)

        return plan
    if variant == FLOOR:
        metrics = _FloorMetrics((0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))

        def floor() -> None:
            started = time.perf_counter()
            trace_id, span_id = random.getrandbits(128), random.getrandbits(64)
            response = client.get(
                URL, headers={"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}
            )
            _spans.append(("GET", trace_id, span_id, started, response.status_code))
            metrics.record(("GET", response.status_code), time.perf_counter() - started)

        return floor

    def request() -> None:
        client.get(URL)

    return request


def operation_of(operation: str, variant: str, setup: Any, path: str) -> Operation:
    from opentelemetry import metrics, trace

    from benchmarks.micro import _operations as ops

    if variant == FLOOR and operation in ("span", "queue", "converter"):
        return _floor(operation)
    if operation == "httpx":
        return _httpx_operation(variant, setup)
    if variant == NONE:
        return {
            "span": work,
            "queue": ops.queue_plain,
            "converter": ops.converter_plain(path),
            "export": work,
        }[operation]
    if variant == PLAN:
        return {
            "span": ops.plan_metrics,
            "queue": ops.queue_plan,
            "converter": ops.converter_plan(path),
        }[operation]
    if operation == "export":
        if variant == FASTOTEL:
            return _export_operation(setup.get_tracer("bench.fastotel"))
        if variant == FLOOR:
            return lambda: _floor_span("convert csv", None, {"pywats.converter.name": "csv"})
        tracer = setup.tracer if variant == BARE else trace.get_tracer("bench.ours")
        return _export_operation(tracer)
    if variant == BARE:
        tracer, meter = setup.tracer, setup.meter
        return {
            "span": _span_operation(tracer, meter),
            "queue": ops.queue_by_hand(tracer, meter),
            "converter": ops.converter_by_hand(tracer, meter, path),
        }[operation]
    # pywats_otel: its API (queue, converter); a bare span by hand on its providers.
    return {
        "span": _span_operation(trace.get_tracer("bench.ours"), metrics.get_meter("bench.ours")),
        "queue": ops.queue_api,
        "converter": ops.converter_api(path),
    }[operation]


def _finish(variant: str, setup: Any) -> None:
    """Export what was held: the batches go out now (per-operation work, counted)."""
    if setup is None:
        return
    if variant == FASTOTEL:
        setup.force_flush()
        setup.shutdown()
    elif variant in (OURS, OURS_ON_STOCK):
        setup.telemetry.force_flush(timeout_s=60)
        setup.shutdown()
    else:
        setup.tracer_provider.force_flush()
        setup.shutdown()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.counts._program")
    parser.add_argument("--operation", required=True, choices=OPERATIONS)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--otlp-http", default="")
    parser.add_argument("--otlp-grpc", default="")
    args = parser.parse_args(argv)
    if args.variant not in VARIANTS[args.operation]:
        parser.error(f"{args.variant!r} does not apply to {args.operation}")
    import logging

    # The by-hand variants make pywats_otel's instruments again under other scopes.
    logging.getLogger("opentelemetry.sdk.metrics._internal.metric_reader_storage").setLevel(
        logging.ERROR
    )
    folder = tempfile.mkdtemp(prefix="pywats-otel-count-")
    path = os.path.join(folder, "ict-0001.csv")
    with open(path, "w") as file:
        file.write("step,value\nvoltage,3.3\ncurrent,0.1\nresistance,47\n")
    setup = _set_up(args.variant, args.operation, args.otlp_http, args.otlp_grpc)
    operation = operation_of(args.operation, args.variant, setup, path)
    for _ in range(WARM_UP):
        operation()
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
    for _ in range(args.n):
        operation()
    gc.collect()
    gc.set_threshold(*thresholds)
    _finish(args.variant, setup)
    sys.stdout.write(f"{args.operation} {args.variant} {args.n} spans={len(_spans)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
