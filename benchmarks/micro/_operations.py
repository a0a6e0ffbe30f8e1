"""The operations the micro cases time, each written the way a variant writes it: the queue's
enqueue + process and a converter run with no telemetry, by hand on an SDK, with
prometheus_client (the original plan) and with pywats_otel's API; and the plan's two converter
metric records."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind

from benchmarks import _setups
from benchmarks._harness import Operation
from benchmarks.micro._common import work
from pywats_otel import converter, queue, semconv
from pywats_otel._base.otel import create_instrument


def plan_metrics() -> None:
    work()
    _setups.PLAN_CONVERTER_EXECUTIONS.labels(
        pywats_converter_name="csv", pywats_converter_status="success"
    ).inc()
    _setups.PLAN_CONVERTER_DURATION.labels(
        pywats_converter_name="csv", pywats_converter_status="success"
    ).observe(0.01)


# -- queue --------------------------------------------------------------------------------


def queue_plain() -> None:
    carrier: dict[str, str] = {}
    work()
    work()
    carrier.clear()


def queue_by_hand(tracer: trace.Tracer, meter: metrics.Meter) -> Operation:
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
            work()
        enqueued.add(1, name_attributes)

        parent = propagate.extract(carrier, context=otel_context.Context())
        wait.record(time.time() - float(carrier[semconv.CARRIER_ENQUEUED_AT]), name_attributes)
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "process reports", context=parent, kind=SpanKind.CONSUMER, attributes=process_attributes
        ) as span:
            work()
            span.set_attribute(semconv.QUEUE_OUTCOME, "success")
        elapsed = time.perf_counter() - started
        processed.add(1, outcome_attributes)
        processing.record(elapsed, outcome_attributes)

    return operation


def queue_plan() -> None:
    # The plan's queue keeps the enqueue time in the item for the wait metric, too.
    carrier: dict[str, str] = {semconv.CARRIER_ENQUEUED_AT: f"{time.time():.6f}"}
    work()
    _setups.PLAN_QUEUE_ENQUEUED.labels(pywats_queue_name="reports").inc()
    _setups.PLAN_QUEUE_WAIT.labels(pywats_queue_name="reports").observe(
        time.time() - float(carrier[semconv.CARRIER_ENQUEUED_AT])
    )
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    _setups.PLAN_QUEUE_PROCESSED.labels(
        pywats_queue_name="reports", pywats_queue_outcome="success"
    ).inc()
    _setups.PLAN_QUEUE_PROCESSING.labels(
        pywats_queue_name="reports", pywats_queue_outcome="success"
    ).observe(elapsed)


def queue_api() -> None:
    carrier: dict[str, str] = {}
    with queue.enqueue("reports", carrier, item_id="r-1"):
        work()
    with queue.process("reports", carrier, item_id="r-1", attempt=1):
        work()


# -- converter --------------------------------------------------------------------------------


def converter_by_hand(tracer: trace.Tracer, meter: metrics.Meter, path: str) -> Operation:
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
            work()
            span.set_attributes({semconv.CONVERTER_STATUS: "success", semconv.CONVERTER_RECORDS: 3})
        elapsed = time.perf_counter() - started
        executions.add(1, metric_attributes)
        duration.record(elapsed, metric_attributes)

    return operation


def converter_plan(path: str) -> Operation:
    def operation() -> None:
        os.stat(path)
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        _setups.PLAN_CONVERTER_EXECUTIONS.labels(
            pywats_converter_name="csv", pywats_converter_status="success"
        ).inc()
        _setups.PLAN_CONVERTER_DURATION.labels(
            pywats_converter_name="csv", pywats_converter_status="success"
        ).observe(elapsed)

    return operation


def converter_api(path: str) -> Operation:
    def operation() -> None:
        with converter.conversion("csv", source=path) as run:
            work()
            run.records = 3

    return operation


def converter_plain(path: str) -> Operation:
    def operation() -> None:
        os.stat(path)
        work()

    return operation


# -- httpx --------------------------------------------------------------------------------


def httpx_by_hand(client: Any, url: str, tracer: trace.Tracer, duration: Any) -> Operation:
    """A GET with what pywats_otel's httpx instrumentation records, written by hand around the
    call: the CLIENT span with the stable HTTP attributes, traceparent and the correlation
    header, the duration histogram with its attributes."""
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port
    start_attributes: dict[str, Any] = {
        semconv.HTTP_REQUEST_METHOD: "GET",
        semconv.URL_FULL: url,
        semconv.SERVER_ADDRESS: host,
        semconv.NETWORK_PEER_ADDRESS: host,
        semconv.SERVER_PORT: port,
        semconv.NETWORK_PEER_PORT: port,
    }

    def operation() -> None:
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes=start_attributes
        ) as span:
            headers: dict[str, str] = {}
            propagate.inject(headers)
            headers["X-Correlation-ID"] = format(span.get_span_context().trace_id, "032x")
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            elapsed = time.perf_counter() - started
            protocol = response.http_version.replace("HTTP/", "")
            span.set_attributes(
                {
                    semconv.HTTP_RESPONSE_STATUS_CODE: response.status_code,
                    semconv.NETWORK_PROTOCOL_VERSION: protocol,
                }
            )
        duration.record(
            elapsed,
            {
                semconv.HTTP_REQUEST_METHOD: "GET",
                semconv.SERVER_ADDRESS: host,
                semconv.SERVER_PORT: port,
                semconv.HTTP_RESPONSE_STATUS_CODE: response.status_code,
                semconv.NETWORK_PROTOCOL_VERSION: protocol,
            },
        )

    return operation
