"""The cost of the queue, converter and httpx instrumentation, beside what it wraps.

Queue (enqueue + process) and converter run, interleaved in one process:
- ``no telemetry``: the operation's own work only (the baseline);
- ``bare SDK``: the same spans, carrier and metric records written by hand on a TracerProvider
  (BatchSpanProcessor, no-op exporter) and a MeterProvider (pull reader) built by hand;
- ``by hand on init_telemetry``: the bare SDK's code on the providers of ``init_telemetry()``
  (its counting processors and histogram views), to tell the pipeline's cost from the API's;
- ``pywats_otel``: the public API (queue.enqueue/process, converter.conversion) on the
  providers of ``init_telemetry()`` (no-op span exporter, Prometheus pull reader).
Goal: pywats_otel / bare SDK <= 1.10. The span queues are made large enough that no span is
dropped during a round (by default a queue holds 2048 spans and a round makes thousands), so
the cost of recording spans is timed, not the cheaper path of dropping them.

httpx, requests to a keep-alive HTTP server in another process on 127.0.0.1:
- ``uninstrumented``; ``stock instrumentor``: HTTPXClientInstrumentor alone (stable HTTP
  semantic conventions, as pywats_otel sets up); ``pywats_otel``: the same plus its request
  hook (correlation header, URL redaction). Goal: pywats_otel's extra cost over the stock
  instrumentor <= 10 % of the stock instrumentor's own overhead. The hook alone is also timed
  (no network), since its cost is smaller than the round trip's noise.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from benchmarks._harness import CaseResult, interleave, per_op_us
from pywats_otel import _exporters, converter, init_telemetry, queue, semconv
from pywats_otel.exporters import ExporterSpec
from pywats_otel.testing import reset_telemetry

Operation = Callable[[], object]


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _work() -> int:
    return sum(range(20))


# -- queue ------------------------------------------------------------------------------------


def _queue_plain() -> None:
    carrier: dict[str, str] = {}
    _work()
    _work()
    carrier.clear()


def _queue_by_hand(tracer: trace.Tracer, meter: Any) -> Operation:
    """What queue.enqueue + queue.process record, written directly against the SDK."""
    enqueued = meter.create_counter(semconv.QUEUE_ENQUEUED, unit="{item}")
    processed = meter.create_counter(semconv.QUEUE_PROCESSED, unit="{item}")
    processing = meter.create_histogram(semconv.QUEUE_PROCESSING_DURATION, unit="s")
    wait = meter.create_histogram(semconv.QUEUE_WAIT_DURATION, unit="s")
    base = {
        semconv.MESSAGING_SYSTEM: "pywats",
        semconv.MESSAGING_DESTINATION_NAME: "reports",
    }
    send_attributes = {
        **base,
        semconv.MESSAGING_OPERATION_TYPE: "send",
        semconv.MESSAGING_OPERATION_NAME: "send",
        semconv.MESSAGING_MESSAGE_ID: "r-1",
    }
    process_attributes = {
        **base,
        semconv.MESSAGING_OPERATION_TYPE: "process",
        semconv.MESSAGING_OPERATION_NAME: "process",
        semconv.MESSAGING_MESSAGE_ID: "r-1",
        semconv.QUEUE_ATTEMPT: 1,
    }
    name_attributes = {semconv.QUEUE_NAME: "reports"}
    outcome_attributes = {semconv.QUEUE_NAME: "reports", semconv.QUEUE_OUTCOME: "success"}

    def operation() -> None:
        carrier: dict[str, str] = {}
        with tracer.start_as_current_span(
            "send reports", kind=SpanKind.PRODUCER, attributes=send_attributes
        ):
            propagate.inject(carrier)
            carrier[semconv.CARRIER_ENQUEUED_AT] = f"{time.time():.6f}"
            _work()
        enqueued.add(1, name_attributes)

        parent = propagate.extract(carrier, context=otel_context.Context())
        wait.record(time.time() - float(carrier[semconv.CARRIER_ENQUEUED_AT]), name_attributes)
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "process reports", context=parent, kind=SpanKind.CONSUMER, attributes=process_attributes
        ) as span:
            _work()
            span.set_attribute(semconv.QUEUE_OUTCOME, "success")
        elapsed = time.perf_counter() - started
        processed.add(1, outcome_attributes)
        processing.record(elapsed, outcome_attributes)

    return operation


def _queue_api() -> None:
    carrier: dict[str, str] = {}
    with queue.enqueue("reports", carrier, item_id="r-1"):
        _work()
    with queue.process("reports", carrier, item_id="r-1", attempt=1):
        _work()


# -- converter --------------------------------------------------------------------------------


def _converter_by_hand(tracer: trace.Tracer, meter: Any, path: str) -> Operation:
    executions = meter.create_counter(semconv.CONVERTER_EXECUTIONS, unit="{execution}")
    duration = meter.create_histogram(semconv.CONVERTER_DURATION, unit="s")
    metric_attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        name = os.path.basename(path)
        attributes: dict[str, Any] = {
            semconv.CONVERTER_NAME: "csv",
            semconv.CONVERTER_FILE_NAME: name,
            semconv.CONVERTER_FILE_EXTENSION: os.path.splitext(name)[1][1:].lower(),
            semconv.CONVERTER_FILE_SIZE: os.stat(path).st_size,
        }
        started = time.perf_counter()
        with tracer.start_as_current_span("convert csv", attributes=attributes) as span:
            _work()
            span.set_attributes({semconv.CONVERTER_STATUS: "success", semconv.CONVERTER_RECORDS: 3})
        elapsed = time.perf_counter() - started
        executions.add(1, metric_attributes)
        duration.record(elapsed, metric_attributes)

    return operation


def _converter_api(path: str) -> Operation:
    def operation() -> None:
        with converter.conversion("csv", source=path) as run:
            _work()
            run.records = 3

    return operation


def _converter_plain(path: str) -> Operation:
    def operation() -> None:
        os.stat(path)
        _work()

    return operation


# -- the cases on the SDK -------------------------------------------------------------------


def _bare_providers() -> tuple[TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    return tracer_provider, meter_provider


def _start_pywats_otel(**settings: Any) -> Any:
    _exporters.register_builtin("null", ExporterSpec(span_exporter=lambda context: NullExporter()))
    reset_telemetry()
    return init_telemetry(
        traces_exporter="null",
        metrics_exporter="prometheus",
        logs_exporter="none",
        prometheus_port=0,
        prometheus_host="127.0.0.1",
        **settings,
    )


def not_initialised(rounds: int, ops: int, path: str) -> CaseResult:
    """The API before init_telemetry(), in a fresh interpreter: no-op spans and instruments.

    In this process earlier cases have set and reset the global providers, and OpenTelemetry's
    proxies stay bound to the last real provider, so only a new process shows the true cost.
    """
    code = (
        "import json, sys; from benchmarks.bench_instrumentation import _not_initialised_samples;"
        f" json.dump(_not_initialised_samples({rounds}, {ops}, {path!r}), sys.stdout)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    result = CaseResult(
        "queue + converter, telemetry not initialised",
        "µs/op",
        "no telemetry",
        notes="a fresh interpreter, no SDK behind the API (no-op spans and instruments)",
    )
    result.samples = json.loads(out.stdout)
    return result


def _not_initialised_samples(rounds: int, ops: int, path: str) -> dict[str, list[float]]:
    plain_converter, api_converter = _converter_plain(path), _converter_api(path)

    def plain() -> None:
        _queue_plain()
        plain_converter()

    def api() -> None:
        _queue_api()
        api_converter()

    case = interleave(
        "not initialised",
        {"no telemetry": plain, "pywats_otel API": api},
        baseline="no telemetry",
        ops=ops,
        rounds=rounds,
    )
    return case.samples


def queue_and_converter(rounds: int, ops: int, path: str) -> list[CaseResult]:
    queue_size = os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE")
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(max(4 * ops, 2048))
    try:
        bare_tracer_provider, bare_meter_provider = _bare_providers()
        telemetry = _start_pywats_otel(instrumentations="none")
    finally:
        if queue_size is None:
            del os.environ["OTEL_BSP_MAX_QUEUE_SIZE"]
        else:
            os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = queue_size
    bare_tracer = bare_tracer_provider.get_tracer("bench")
    bare_meter = bare_meter_provider.get_meter("bench")
    # The by-hand code on init_telemetry's providers, under a scope of its own.
    ours_tracer = trace.get_tracer("bench.by_hand")
    ours_meter = metrics.get_meter("bench.by_hand")
    try:
        queue_case = interleave(
            "queue enqueue + process",
            {
                "no telemetry": _queue_plain,
                "bare SDK": _queue_by_hand(bare_tracer, bare_meter),
                "by hand on init_telemetry": _queue_by_hand(ours_tracer, ours_meter),
                "pywats_otel": _queue_api,
            },
            baseline="no telemetry",
            ops=ops,
            rounds=rounds,
        )
        converter_case = interleave(
            "converter run",
            {
                "no telemetry": _converter_plain(path),
                "bare SDK": _converter_by_hand(bare_tracer, bare_meter, path),
                "by hand on init_telemetry": _converter_by_hand(ours_tracer, ours_meter, path),
                "pywats_otel": _converter_api(path),
            },
            baseline="no telemetry",
            ops=ops,
            rounds=rounds,
        )
    finally:
        telemetry.shutdown(timeout_s=2)
        bare_tracer_provider.shutdown()
        bare_meter_provider.shutdown()
        reset_telemetry()
        _exporters.unregister_builtin("null")
    for case in (queue_case, converter_case):
        case.notes = (
            f"pywats_otel / bare SDK = {_paired_ratio(case, 'pywats_otel', 'bare SDK'):.3f} "
            "(median of per-round ratios; goal <= 1.10); of which the pipeline "
            f"(by hand on init_telemetry / bare SDK) "
            f"{_paired_ratio(case, 'by hand on init_telemetry', 'bare SDK'):.3f} and the API "
            f"(pywats_otel / by hand on init_telemetry) "
            f"{_paired_ratio(case, 'pywats_otel', 'by hand on init_telemetry'):.3f}"
        )
    return [queue_case, converter_case]


def _paired_ratio(case: CaseResult, variant: str, reference: str) -> float:
    pairs = zip(case.samples[variant], case.samples[reference], strict=True)
    return statistics.median(v / r for v, r in pairs if r > 0)


# -- httpx ----------------------------------------------------------------------------------

# A minimal keep-alive HTTP server in its own process: it reads each request's head and sends
# a fixed answer, so that neither its parsing nor the GIL of the client's process blurs the
# client-side costs being compared (asyncio sets TCP_NODELAY on its sockets).
_SERVER = textwrap.dedent(
    """
    import asyncio

    ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"

    async def serve(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)


def _interleave_with_setup(
    case: str,
    variants: dict[str, tuple[Callable[[], Callable[[], None]], Operation]],
    *,
    baseline: str,
    ops: int,
    rounds: int,
    warmup_ops: int = 50,
) -> CaseResult:
    """Like ``interleave``, for variants that need a global set-up (undone after each batch)."""
    result = CaseResult(case, "µs/op", baseline, {name: [] for name in variants})
    names = list(variants)
    for name in names:
        setup, operation = variants[name]
        undo = setup()
        for _ in range(warmup_ops):
            operation()
        undo()
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            setup, operation = variants[name]
            undo = setup()
            try:
                result.samples[name].append(per_op_us(operation, ops))
            finally:
                undo()
    return result


def httpx_requests(rounds: int, ops: int) -> list[CaseResult]:
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo

    from pywats_otel.instrumentation import httpx as adapter

    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/upload?station=7"
        telemetry = _start_pywats_otel(instrumentations="none")
        client = httpx.Client()
        stock = HTTPXClientInstrumentor()

        def nothing() -> Callable[[], None]:
            return lambda: None

        def stock_alone() -> Callable[[], None]:
            with adapter._stable_http_semconv():
                stock.instrument()
            return stock.uninstrument

        def ours() -> Callable[[], None]:
            undo = adapter.turn_on(telemetry)
            assert undo is not None
            return undo

        def request() -> None:
            client.get(url)

        case = _interleave_with_setup(
            "httpx GET to 127.0.0.1 (keep-alive)",
            {
                "uninstrumented": (nothing, request),
                "stock instrumentor": (stock_alone, request),
                "pywats_otel": (ours, request),
            },
            baseline="uninstrumented",
            ops=ops,
            rounds=rounds,
        )
        extra = [
            (p - s) / (s - u)
            for u, s, p in zip(
                case.samples["uninstrumented"],
                case.samples["stock instrumentor"],
                case.samples["pywats_otel"],
                strict=True,
            )
            if s > u
        ]
        stock_overhead = case.median("stock instrumentor") - case.median("uninstrumented")
        ours_extra = case.median("pywats_otel") - case.median("stock instrumentor")

        # The hook alone, inside a recording span, as the instrumentor calls it.
        hooks = adapter._Hooks((semconv.URL_FULL,))
        tracer = trace.get_tracer("bench")
        plain_request = httpx.Request("GET", url)
        secret_request = httpx.Request("GET", url + "&token=abc")

        def make_operation(request: httpx.Request, call_hook: bool) -> Operation:
            # What the stock wrapper does around the hook (a RequestInfo, a span, a copy of the
            # headers), with and without the hook; the header the hook adds is taken out again
            # in both, so that only the hook's own work differs.
            def operation() -> None:
                info = RequestInfo(b"GET", request.url, request.headers, None, None)
                with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as span:
                    if call_hook:
                        hooks.request(span, info)
                    httpx.Headers(request.headers)
                request.headers.pop("x-correlation-id", None)

            return operation

        hook_case = interleave(
            "httpx request hook alone (no network)",
            {
                "span only": make_operation(plain_request, call_hook=False),
                "span + hook": make_operation(plain_request, call_hook=True),
                "span + hook, URL redacted": make_operation(secret_request, call_hook=True),
            },
            baseline="span only",
            ops=ops * 10,
            rounds=rounds,
            notes="the hook's cost is (span + hook) - (span only)",
        )
        hook_cost = hook_case.median("span + hook") - hook_case.median("span only")
        case.notes = (
            f"stock instrumentor's overhead {stock_overhead:.1f} µs/request; pywats_otel's extra "
            f"over it: {100 * statistics.median(extra):.1f} % of that overhead (median of "
            f"per-round shares; {ours_extra:.1f} µs = {100 * ours_extra / stock_overhead:.1f} % "
            f"from the medians); the hook alone costs {hook_cost:.2f} µs = "
            f"{100 * hook_cost / stock_overhead:.1f} %; goal <= 10 %"
        )
        client.close()
        telemetry.shutdown(timeout_s=2)
        return [case, hook_case]
    finally:
        server.terminate()
        server.wait(5)
        reset_telemetry()
        _exporters.unregister_builtin("null")


def run(rounds: int, quick: bool) -> list[CaseResult]:
    ops = 500 if quick else 5000
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ict-0001.csv")
        Path(path).write_text("step,value\nvoltage,3.3\ncurrent,0.1\nresistance,47\n")
        results = [
            not_initialised(rounds, ops, path),
            *queue_and_converter(rounds, ops, path),
        ]
    # Round trips are noisy: more, shorter rounds give the paired per-round shares more weight.
    results += httpx_requests(rounds * 2, 100 if quick else 300)
    return results
