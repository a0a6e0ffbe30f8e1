"""Micro: the cost of one operation, side by side with what a pyWATS developer would otherwise
pick, all variants interleaved in one process.

Variants (not every one applies to every case; those that do not are shown as n/a):
- ``no telemetry``: the operation's own work only (the baseline);
- ``bare SDK by hand``: the same spans, carrier and metric records written directly against a
  TracerProvider (BatchSpanProcessor, no-op exporter) and a MeterProvider (Prometheus reader)
  built by hand;
- ``by hand on init_telemetry``: that code on the providers of ``init_telemetry()`` (its
  counting processors, ID generator and histogram views), to tell the cost of pywats_otel's
  pipeline from that of its API;
- ``stock instrumentor``: the contrib auto-instrumentation that ``opentelemetry-instrument``
  would turn on, where one exists (httpx, logging);
- ``prometheus_client (metrics only)``: module-level Counter/Histogram with the same names,
  labels and buckets, the original plan; no spans and no trace context;
- ``pywats_otel``: the public API on the providers of ``init_telemetry()`` (spans to a no-op
  exporter, metrics to the Prometheus reader).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from timeit import default_timer
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind

from benchmarks import _setups, _sink
from benchmarks._harness import (
    CaseResult,
    Comparison,
    Operation,
    SetUpOperation,
    interleave,
    interleave_with_setup,
    rotations,
    run_python,
)
from pywats_otel import converter, correlation, queue, semconv
from pywats_otel._base.otel import create_instrument
from pywats_otel._tools.demo import files

SECTION = "micro"

NONE = "no telemetry"
BARE = "bare SDK by hand"
ON_INIT = "by hand on init_telemetry"
STOCK = "stock instrumentor"
PLAN = "prometheus_client (metrics only)"
OURS = "pywats_otel"

GOAL_SDK = 1.10
NO_STOCK = (
    "no contrib instrumentation exists for a station's own queue or converters; "
    "`opentelemetry-instrument` turns on nothing here"
)
NO_STOCK_SPAN = "a hand-made span has no auto-instrumentation"


def _work() -> int:
    return sum(range(20))


def _vs_bare(case: CaseResult, *, diagnose: bool = True) -> None:
    case.comparisons.append(
        Comparison(
            f"{case.case}: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base=NONE,
            goal=GOAL_SDK,
            goal_text="<= 1.10",
        )
    )
    if diagnose and ON_INIT in case.samples:
        case.comparisons += [
            Comparison(
                "of which the pipeline: by hand on init_telemetry / bare SDK", ON_INIT, BARE
            ),
            Comparison("of which the API: pywats_otel / by hand on init_telemetry", OURS, ON_INIT),
        ]
    if PLAN in case.samples:
        case.comparisons.append(
            Comparison(
                "pywats_otel's cost / prometheus_client's (metrics only)",
                OURS,
                PLAN,
                kind="overhead ratio",
                base=NONE,
            )
        )


# -- span + metrics, and metrics alone --------------------------------------------------------


def _span_and_metrics(tracer: trace.Tracer, meter: metrics.Meter) -> Operation:
    counter = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    histogram = create_instrument(meter, semconv.CONVERTER_DURATION)
    attributes: dict[str, Any] = {
        semconv.CONVERTER_NAME: "csv",
        semconv.CONVERTER_STATUS: "success",
    }

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            _work()
        counter.add(1, attributes)
        histogram.record(0.01, attributes)

    return operation


def _metrics_only(meter: metrics.Meter) -> Operation:
    counter = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    histogram = create_instrument(meter, semconv.CONVERTER_DURATION)
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        _work()
        counter.add(1, attributes)
        histogram.record(0.01, attributes)

    return operation


def _plan_metrics() -> None:
    _work()
    _setups.PLAN_CONVERTER_EXECUTIONS.labels(
        pywats_converter_name="csv", pywats_converter_status="success"
    ).inc()
    _setups.PLAN_CONVERTER_DURATION.labels(
        pywats_converter_name="csv", pywats_converter_status="success"
    ).observe(0.01)


def span_and_metrics(bare: _setups.BareSDK, rounds: int, ops: int) -> list[CaseResult]:
    ours_tracer, ours_meter = trace.get_tracer("bench.ours"), metrics.get_meter("bench.ours")
    both = interleave(
        SECTION,
        "span + counter + histogram",
        {
            NONE: _work,
            BARE: _span_and_metrics(bare.tracer, bare.meter),
            PLAN: _plan_metrics,
            OURS: _span_and_metrics(ours_tracer, ours_meter),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    both.notes.append(
        "one span with two attributes, a counter and a histogram point; pywats_otel is this "
        "code on init_telemetry()'s providers (there is no API of ours for a bare span); "
        "prometheus_client records the two metrics only"
    )
    both.not_applicable[STOCK] = NO_STOCK_SPAN
    _vs_bare(both, diagnose=False)
    alone = interleave(
        SECTION,
        "counter + histogram (metrics only)",
        {
            NONE: _work,
            BARE: _metrics_only(bare.meter),
            PLAN: _plan_metrics,
            OURS: _metrics_only(metrics.get_meter("bench.ours.metrics")),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    alone.notes.append(
        "the metric records alone, as the original plan's prometheus_client code makes them: "
        "what the OpenTelemetry SDK's metric API costs beside prometheus_client's"
    )
    alone.not_applicable[STOCK] = NO_STOCK_SPAN
    _vs_bare(alone, diagnose=False)
    return [both, alone]


# -- queue --------------------------------------------------------------------------------


def _queue_plain() -> None:
    carrier: dict[str, str] = {}
    _work()
    _work()
    carrier.clear()


def _queue_by_hand(tracer: trace.Tracer, meter: metrics.Meter) -> Operation:
    """What queue.enqueue + queue.process record, written directly against the SDK."""
    enqueued = create_instrument(meter, semconv.QUEUE_ENQUEUED)
    processed = create_instrument(meter, semconv.QUEUE_PROCESSED)
    processing = create_instrument(meter, semconv.QUEUE_PROCESSING_DURATION)
    wait = create_instrument(meter, semconv.QUEUE_WAIT_DURATION)
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
    process_attributes: dict[str, Any] = {
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


def _queue_plan() -> None:
    # The plan's queue keeps the enqueue time in the item for the wait metric, too.
    carrier: dict[str, str] = {semconv.CARRIER_ENQUEUED_AT: f"{time.time():.6f}"}
    _work()
    _setups.PLAN_QUEUE_ENQUEUED.labels(pywats_queue_name="reports").inc()
    _setups.PLAN_QUEUE_WAIT.labels(pywats_queue_name="reports").observe(
        time.time() - float(carrier[semconv.CARRIER_ENQUEUED_AT])
    )
    started = time.perf_counter()
    _work()
    elapsed = time.perf_counter() - started
    _setups.PLAN_QUEUE_PROCESSED.labels(
        pywats_queue_name="reports", pywats_queue_outcome="success"
    ).inc()
    _setups.PLAN_QUEUE_PROCESSING.labels(
        pywats_queue_name="reports", pywats_queue_outcome="success"
    ).observe(elapsed)


def _queue_api() -> None:
    carrier: dict[str, str] = {}
    with queue.enqueue("reports", carrier, item_id="r-1"):
        _work()
    with queue.process("reports", carrier, item_id="r-1", attempt=1):
        _work()


# -- converter --------------------------------------------------------------------------------


def _converter_by_hand(tracer: trace.Tracer, meter: metrics.Meter, path: str) -> Operation:
    executions = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    duration = create_instrument(meter, semconv.CONVERTER_DURATION)
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


def _converter_plan(path: str) -> Operation:
    def operation() -> None:
        os.stat(path)
        started = time.perf_counter()
        _work()
        elapsed = time.perf_counter() - started
        _setups.PLAN_CONVERTER_EXECUTIONS.labels(
            pywats_converter_name="csv", pywats_converter_status="success"
        ).inc()
        _setups.PLAN_CONVERTER_DURATION.labels(
            pywats_converter_name="csv", pywats_converter_status="success"
        ).observe(elapsed)

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


def queue_and_converter(
    bare: _setups.BareSDK, rounds: int, ops: int, path: str
) -> list[CaseResult]:
    # The by-hand code on init_telemetry's providers, under a scope of its own.
    on_init_tracer = trace.get_tracer("bench.by_hand")
    on_init_meter = metrics.get_meter("bench.by_hand")
    queue_case = interleave(
        SECTION,
        "queue enqueue + process",
        {
            NONE: _queue_plain,
            BARE: _queue_by_hand(bare.tracer, bare.meter),
            ON_INIT: _queue_by_hand(on_init_tracer, on_init_meter),
            PLAN: _queue_plan,
            OURS: _queue_api,
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    queue_case.notes.append(
        "a PRODUCER span with the carrier written, a CONSUMER span continuing it, four metric "
        "records (enqueued, wait, processed, processing duration)"
    )
    queue_case.not_applicable[STOCK] = NO_STOCK
    _vs_bare(queue_case)
    converter_case = interleave(
        SECTION,
        "converter run",
        {
            NONE: _converter_plain(path),
            BARE: _converter_by_hand(bare.tracer, bare.meter, path),
            ON_INIT: _converter_by_hand(on_init_tracer, on_init_meter, path),
            PLAN: _converter_plan(path),
            OURS: _converter_api(path),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    converter_case.notes.append(
        "an INTERNAL span with the file's name, extension and size (one stat), status and "
        "records; two metric records"
    )
    converter_case.not_applicable[STOCK] = NO_STOCK
    _vs_bare(converter_case)
    return [queue_case, converter_case]


def report_cold(bare: _setups.BareSDK, rounds: int, ops: int, xml: Path) -> CaseResult:
    """A report's telemetry (converter run, enqueue, process) right after its XML and JSON work.

    In a tight loop the interpreter's caches stay hot; in a station, parsing a report evicts
    them between two telemetry calls, which then cost more. Only the telemetry calls are timed
    here, each right after a report's parse and JSON dump (not timed).
    """
    from pywats_otel._tools.demo.converters import parse_xml

    path = str(xml)
    plain_converter = _converter_plain(path)
    bare_converter = _converter_by_hand(bare.tracer, bare.meter, path)
    bare_queue = _queue_by_hand(bare.tracer, bare.meter)
    ours_converter = _converter_api(path)

    def none() -> None:
        plain_converter()
        _queue_plain()

    def by_hand() -> None:
        bare_converter()
        bare_queue()

    def ours() -> None:
        ours_converter()
        _queue_api()

    variants: dict[str, Operation] = {NONE: none, BARE: by_hand, OURS: ours}

    def sample(operation: Operation) -> float:
        spent = 0
        for _ in range(ops):
            json.dumps(parse_xml(xml))
            started = time.perf_counter_ns()
            operation()
            spent += time.perf_counter_ns() - started
        return spent / ops / 1000.0

    for operation in variants.values():
        sample(operation)  # warm-up
    case = CaseResult(
        SECTION,
        "a report's converter run + queue, right after its XML and JSON work",
        "µs/op",
        NONE,
        {name: [] for name in variants},
    )
    for order in rotations(list(variants), rounds):
        for name in order:
            case.samples[name].append(sample(variants[name]))
    case.comparisons.append(
        Comparison(
            "cold caches: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base=NONE,
        )
    )
    case.not_applicable[STOCK] = NO_STOCK
    case.not_applicable[PLAN] = "compared with hot caches above; this case is about the SDK"
    return case


# -- not initialised ------------------------------------------------------------------------


def not_initialised(rounds: int, ops: int, path: str) -> CaseResult:
    """The API before init_telemetry(), in a fresh interpreter: no-op spans and instruments.

    In this process the micro cases have set the global providers; a new process shows the
    cost a program that never calls init_telemetry() pays.
    """
    out = run_python(
        "import json, sys; from benchmarks.micro import _not_initialised_samples;"
        f" json.dump(_not_initialised_samples({rounds}, {ops}, {path!r}), sys.stdout)"
    )
    result = CaseResult(
        SECTION, "queue + converter, telemetry not initialised", "µs/op", NONE, json.loads(out)
    )
    result.notes.append(
        "a fresh interpreter, no SDK behind the API (no-op spans and instruments); "
        "the API's cost when a program never calls init_telemetry()"
    )
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
        SECTION,
        "not initialised",
        {NONE: plain, "pywats_otel API, not initialised": api},
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    return case.samples


# -- httpx --------------------------------------------------------------------------------

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


def _request_by_hand(client: Any, url: str, bare: _setups.BareSDK) -> Operation:
    """A CLIENT span, traceparent and the correlation header, the duration histogram."""
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    duration = bare.histogram(semconv.HTTP_CLIENT_REQUEST_DURATION)
    span_attributes: dict[str, Any] = {
        semconv.HTTP_REQUEST_METHOD: "GET",
        semconv.URL_FULL: url,
        semconv.SERVER_ADDRESS: host,
        semconv.SERVER_PORT: port,
    }
    tracer = bare.tracer

    def operation() -> None:
        started = default_timer()
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes=span_attributes
        ) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            headers["X-Correlation-ID"] = format(span.get_span_context().trace_id, "032x")
            response = client.get(url, headers=headers)
            span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, response.status_code)
        duration.record(
            max(default_timer() - started, 0.0),
            {
                semconv.HTTP_REQUEST_METHOD: "GET",
                semconv.HTTP_RESPONSE_STATUS_CODE: response.status_code,
                semconv.SERVER_ADDRESS: host,
                semconv.SERVER_PORT: port,
                semconv.NETWORK_PROTOCOL_VERSION: "1.1",
            },
        )

    return operation


def _request_plan(client: Any, url: str) -> Operation:
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, str(parsed.port or 80)

    def operation() -> None:
        started = default_timer()
        response = client.get(url)
        _setups.PLAN_HTTP_DURATION.labels("GET", str(response.status_code), host, port).observe(
            max(default_timer() - started, 0.0)
        )

    return operation


def httpx_requests(
    ours: _setups.PywatsOtel, bare: _setups.BareSDK, rounds: int, ops: int, hook_ops: int
) -> list[CaseResult]:
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor, RequestInfo

    import pywats_otel.instrumentation.httpx as adapter

    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    client = httpx.Client()
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/upload?station=7"
        stock = HTTPXClientInstrumentor()

        def nothing() -> Callable[[], None]:
            return lambda: None

        def stock_alone() -> Callable[[], None]:
            with adapter._stable_http_semconv():
                stock.instrument()
            undo: Callable[[], None] = stock.uninstrument
            return undo

        def pywats_otel() -> Callable[[], None]:
            undo = adapter.turn_on(ours.telemetry.settings)
            assert undo is not None
            return undo

        def request() -> None:
            client.get(url)

        variants: dict[str, SetUpOperation] = {
            NONE: (nothing, request),
            BARE: (nothing, _request_by_hand(client, url, bare)),
            STOCK: (stock_alone, request),
            PLAN: (nothing, _request_plan(client, url)),
            OURS: (pywats_otel, request),
        }
        case = interleave_with_setup(
            SECTION,
            "httpx GET to 127.0.0.1 (keep-alive)",
            variants,
            baseline=NONE,
            ops=ops,
            rounds=rounds,
        )
        stock_cost = case.median(STOCK) - case.median(NONE)
        case.comparisons += [
            Comparison(
                "httpx: pywats_otel's extra over the stock instrumentor, in % of the stock "
                "instrumentor's own overhead",
                OURS,
                STOCK,
                kind="share",
                base=NONE,
                goal=10.0,
                goal_text="<= 10 %",
            ),
            Comparison(
                "httpx: pywats_otel's overhead / the bare SDK's by hand",
                OURS,
                BARE,
                kind="overhead ratio",
                base=NONE,
                goal=GOAL_SDK,
                goal_text="<= 1.10",
            ),
            Comparison(
                "httpx: the stock instrumentor's overhead / the bare SDK's by hand",
                STOCK,
                BARE,
                kind="overhead ratio",
                base=NONE,
            ),
            Comparison("httpx: pywats_otel / prometheus_client, whole request", OURS, PLAN),
        ]
        case.notes.append(
            f"the stock instrumentor's own overhead is {stock_cost:.0f} µs per request (medians); "
            "stock instrumentor and pywats_otel run on init_telemetry()'s providers; pywats_otel "
            "adds the correlation header, URL redaction and the failure metric's wrapper"
        )
        case.extra["stock_overhead_us"] = stock_cost

        # The hook alone, inside a recording span, as the instrumentor calls it.
        hooks = adapter._Hooks((semconv.URL_FULL,))
        tracer = trace.get_tracer("bench.hook")
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
            SECTION,
            "httpx request hook alone (no network)",
            {
                "span only": make_operation(plain_request, call_hook=False),
                "span + hook": make_operation(plain_request, call_hook=True),
                "span + hook, URL redacted": make_operation(secret_request, call_hook=True),
            },
            baseline="span only",
            ops=hook_ops,
            rounds=rounds,
        )
        hook_cost = hook_case.median("span + hook") - hook_case.median("span only")
        hook_case.notes.append(
            f"the hook (correlation header, URL check) costs {hook_cost:.2f} µs, "
            f"{100 * hook_cost / stock_cost:.1f} % of the stock instrumentor's overhead; "
            "it is timed apart because it is smaller than a round trip's noise"
        )
        return [case, hook_case]
    finally:
        client.close()
        server.terminate()
        server.wait(5)


# -- one log record -------------------------------------------------------------------------

TEXT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
TEXT_WITH_IDS = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)
TEXT_STOCK = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] "
    "%(message)s"
)


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _ByHandFilter(logging.Filter):
    """What a developer writes by hand: the active span's IDs on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = ""
        return True


def _logger(name: str, formatter: logging.Formatter, *filters: logging.Filter) -> logging.Logger:
    handler = logging.StreamHandler(_Discard())
    handler.setFormatter(formatter)
    for item in filters:
        handler.addFilter(item)
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _log_variant(
    logger: logging.Logger, factory: Callable[..., logging.LogRecord]
) -> Callable[[], None]:
    def operation() -> None:
        # Every variant pays this identity check; it puts its own factory in place once per
        # round, since the factory is process-wide.
        if logging.getLogRecordFactory() is not factory:
            logging.setLogRecordFactory(factory)
        logger.info("converted %s: %d steps", "report-7.xml", 1000)

    return operation


def _stock_factory() -> Callable[..., logging.LogRecord]:
    """The contrib LoggingInstrumentor's record factory (trace context injected, no handler)."""
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    instrumentor = LoggingInstrumentor()
    before = logging.getLogRecordFactory()
    instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
    factory = logging.getLogRecordFactory()
    # Taken out again at once: each variant puts its factory in place for its own round.
    instrumentor.uninstrument()
    logging.setLogRecordFactory(before)
    return factory


def one_log_record(rounds: int, ops: int) -> CaseResult:
    from pywats_otel.instrumentation._logging import CorrelationRecordFactory

    plain = logging.getLogRecordFactory()
    with_ids = CorrelationRecordFactory(plain)
    variants: dict[str, Operation] = {
        "plain logging": _log_variant(_logger("plain", logging.Formatter(TEXT)), plain),
        BARE: _log_variant(
            _logger("by-hand", logging.Formatter(TEXT_WITH_IDS), _ByHandFilter()), plain
        ),
        STOCK: _log_variant(_logger("stock", logging.Formatter(TEXT_STOCK)), _stock_factory()),
        OURS: _log_variant(_logger("text", logging.Formatter(TEXT_WITH_IDS)), with_ids),
        "pywats_otel + JsonFormatter": _log_variant(
            _logger("json", correlation.JsonFormatter()), with_ids
        ),
    }
    try:
        with trace.get_tracer("bench.logs").start_as_current_span("work"):
            case = interleave(
                SECTION,
                "one log record with correlation fields",
                variants,
                baseline="plain logging",
                ops=ops,
                rounds=rounds,
            )
    finally:
        logging.setLogRecordFactory(plain)
    case.notes.append(
        "one INFO record with one argument, in an active span, to a discarding stream; each "
        "variant's text format shows the trace and span IDs (plain logging shows none); "
        "pywats_otel is the `logging` instrumentation's record factory; its cache of the last "
        "span's hex IDs pays off because records come in runs from one span, as here"
    )
    case.not_applicable[PLAN] = "prometheus_client has no log correlation"
    case.comparisons += [
        Comparison(
            "log record: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base="plain logging",
            goal=GOAL_SDK,
            goal_text="<= 1.10",
        ),
        Comparison(
            "log record: pywats_otel's cost / the stock instrumentor's",
            OURS,
            STOCK,
            kind="overhead ratio",
            base="plain logging",
        ),
    ]
    return case


# -- exporting spans over OTLP ------------------------------------------------------------------


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


# -- the section --------------------------------------------------------------------------


def run(rounds: int, quick: bool) -> list[CaseResult]:
    # The by-hand variants make pywats_otel's instruments again under scopes of their own on
    # init_telemetry()'s provider, on purpose; the SDK's view-conflict check ignores the scope
    # and would warn about each.
    logging.getLogger("opentelemetry.sdk.metrics._internal.metric_reader_storage").setLevel(
        logging.ERROR
    )
    ops = 300 if quick else 5000
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ict-0001.csv")
        Path(path).write_text("step,value\nvoltage,3.3\ncurrent,0.1\nresistance,47\n")
        results.append(not_initialised(rounds, ops, path))
        bare = _setups.BareSDK()
        ours = _setups.PywatsOtel()
        on_providers: list[CaseResult] = []
        try:
            on_providers += span_and_metrics(bare, rounds, ops)
            on_providers += queue_and_converter(bare, rounds, ops, path)
            on_providers.append(one_log_record(rounds, ops))
            xml = files.TestFileWriter(
                Path(folder), failure_rate=0.0, steps=1000, seed=7, formats=("xml",)
            ).write()
            on_providers.append(report_cold(bare, rounds, 10 if quick else 100, xml))
            # Round trips are noisy: more, shorter rounds give the per-round ratios more weight.
            on_providers += httpx_requests(
                ours, bare, rounds * 2, 60 if quick else 300, 500 if quick else 20_000
            )
            dropped = ours.dropped()
        finally:
            ours.shutdown()
            bare.shutdown()
        on_providers[0].notes.append(
            f"spans dropped by pywats_otel's BatchSpanProcessor over the micro cases: {dropped} "
            f"(both span queues hold {_setups.SPAN_QUEUE:,}, so that no round times the "
            "cheaper path of dropping spans)"
        )
        for result in on_providers:
            result.extra["pywats_otel_spans_dropped"] = dropped
        _compare_hot_and_cold(on_providers)
        results += on_providers
        results.append(otlp_export(rounds, 2 if quick else 10, path))
    _median_check(results)
    return results


def _compare_hot_and_cold(results: list[CaseResult]) -> None:
    cases = {result.case: result for result in results}
    cold = cases["a report's converter run + queue, right after its XML and JSON work"]
    hot = {
        variant: sum(
            cases[name].median(variant) - cases[name].median(NONE)
            for name in ("queue enqueue + process", "converter run")
        )
        for variant in (BARE, OURS)
    }
    spent = {variant: cold.median(variant) - cold.median(NONE) for variant in (BARE, OURS)}
    cold.notes.append(
        "a 1,000-step XML report parsed and dumped as JSON (not timed) before each converter "
        "run, enqueue and process (timed): the telemetry then costs "
        f"{spent[OURS]:.0f} µs with pywats_otel and {spent[BARE]:.0f} µs with the bare SDK, "
        f"against {hot[OURS]:.0f} and {hot[BARE]:.0f} µs in the tight loops above (hot caches); "
        "the pipeline section measures this in a whole station"
    )
    cold.extra.update({"cold_us": spent, "hot_us": hot})


def _median_check(results: list[CaseResult]) -> None:
    """Every sample is a number: a broken variant shows here, not as a silent zero."""
    for result in results:
        for name, values in result.samples.items():
            if not values or any(value <= 0 for value in values):
                raise RuntimeError(f"{result.case}: variant {name} has no usable samples")
            statistics.median(values)
