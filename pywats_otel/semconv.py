"""Every metric, attribute and span name pywats_otel puts on the wire, in one place.

The docs' reference of metrics and spans is tested against the tables at the bottom, so a name
added here without docs, or docs without a name, fails the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- instrumentation scope ----------------------------------------------------------------

SCOPE_NAME = "pywats_otel"

# -- resource attributes (OpenTelemetry semantic conventions) -------------------------------

SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"
DEPLOYMENT_ENVIRONMENT_NAME = "deployment.environment.name"
HOST_NAME = "host.name"
PROCESS_PID = "process.pid"
PROCESS_RUNTIME_NAME = "process.runtime.name"
PROCESS_RUNTIME_VERSION = "process.runtime.version"

# -- attributes -----------------------------------------------------------------------------

ERROR_TYPE = "error.type"

# HTTP client (stable semantic conventions, set by the stock httpx instrumentor).
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"
NETWORK_PEER_ADDRESS = "network.peer.address"
NETWORK_PEER_PORT = "network.peer.port"
URL_FULL = "url.full"
#: The pre-stable name of url.full, present only with OTEL_SEMCONV_STABILITY_OPT_IN=http/dup.
HTTP_URL_OLD = "http.url"

QUEUE_NAME = "pywats.queue.name"
QUEUE_OUTCOME = "pywats.queue.outcome"
QUEUE_STATE = "pywats.queue.state"
QUEUE_ATTEMPT = "pywats.queue.attempt"

CONVERTER_NAME = "pywats.converter.name"
CONVERTER_STATUS = "pywats.converter.status"
CONVERTER_RECORDS = "pywats.converter.records"
CONVERTER_FILE_NAME = "pywats.converter.file.name"
CONVERTER_FILE_EXTENSION = "pywats.converter.file.extension"
CONVERTER_FILE_SIZE = "pywats.converter.file.size"
CONVERTER_FILE_PATH = "pywats.converter.file.path"

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_SYSTEM_VALUE = "pywats"
MESSAGING_DESTINATION_NAME = "messaging.destination.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_OPERATION_SEND = "send"
MESSAGING_OPERATION_PROCESS = "process"

# -- values -----------------------------------------------------------------------------------

QUEUE_OUTCOMES = ("success", "failed", "retry")
CONVERTER_STATUSES = ("success", "failed", "skipped", "suspended", "rejected")

# -- queue carrier keys -------------------------------------------------------------------
# Besides the W3C keys of the global propagator (traceparent, tracestate, baggage), the
# carrier holds the enqueue time: Unix seconds as a decimal string, e.g. "1718000000.123456".

CARRIER_ENQUEUED_AT = "pywats.enqueued_at"

# -- metrics --------------------------------------------------------------------------------

HTTP_CLIENT_REQUEST_DURATION = "http.client.request.duration"
QUEUE_ENQUEUED = "pywats.queue.enqueued"
QUEUE_PROCESSED = "pywats.queue.processed"
QUEUE_PROCESSING_DURATION = "pywats.queue.processing.duration"
QUEUE_WAIT_DURATION = "pywats.queue.wait.duration"
QUEUE_DEPTH = "pywats.queue.depth"
CONVERTER_EXECUTIONS = "pywats.converter.executions"
CONVERTER_DURATION = "pywats.converter.duration"

# -- span names -----------------------------------------------------------------------------

SPAN_QUEUE_SEND = "send {queue}"
SPAN_QUEUE_PROCESS = "process {queue}"
SPAN_CONVERT = "convert {converter}"
#: The stock httpx instrumentor names its CLIENT spans by the request method ("GET", "POST").
SPAN_HTTP_CLIENT = "{method}"

# -- histogram bucket boundaries, in seconds ----------------------------------------------
# Prometheus cannot take exponential histograms, so each duration gets explicit buckets that
# suit its operation.

# The semconv advice for HTTP client durations.
HTTP_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
# Processing one queued report: mostly an upload, up to the client's timeouts and retries.
QUEUE_PROCESSING_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
# Waiting in the queue: milliseconds online, hours while a station is offline.
QUEUE_WAIT_BUCKETS = (
    0.01,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    14400.0,
    86400.0,
)
# Converting one tester file: a small CSV in milliseconds, a large XML log in seconds.
CONVERTER_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@dataclass(frozen=True)
class MetricInfo:
    """One instrument as the docs describe it."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] | None = None


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        HTTP_CLIENT_REQUEST_DURATION,
        "histogram",
        "s",
        "Duration of HTTP client requests (httpx), from the stock instrumentor.",
        (
            HTTP_REQUEST_METHOD,
            HTTP_RESPONSE_STATUS_CODE,
            SERVER_ADDRESS,
            SERVER_PORT,
            NETWORK_PROTOCOL_VERSION,
            ERROR_TYPE,
        ),
        HTTP_DURATION_BUCKETS,
    ),
    MetricInfo(
        QUEUE_ENQUEUED,
        "counter",
        "{item}",
        "Items put into a queue.",
        (QUEUE_NAME,),
    ),
    MetricInfo(
        QUEUE_PROCESSED,
        "counter",
        "{item}",
        "Items taken out of a queue and processed, by outcome (success, failed, retry).",
        (QUEUE_NAME, QUEUE_OUTCOME),
    ),
    MetricInfo(
        QUEUE_PROCESSING_DURATION,
        "histogram",
        "s",
        "Time spent processing one item.",
        (QUEUE_NAME, QUEUE_OUTCOME),
        QUEUE_PROCESSING_BUCKETS,
    ),
    MetricInfo(
        QUEUE_WAIT_DURATION,
        "histogram",
        "s",
        "Time from enqueue to the start of processing, read from the item's carrier.",
        (QUEUE_NAME,),
        QUEUE_WAIT_BUCKETS,
    ),
    MetricInfo(
        QUEUE_DEPTH,
        "gauge",
        "{item}",
        "Items in a queue per state, as the registered callback reports them.",
        (QUEUE_NAME, QUEUE_STATE),
    ),
    MetricInfo(
        CONVERTER_EXECUTIONS,
        "counter",
        "{execution}",
        "Converter runs, by status (success, failed, skipped, suspended, rejected).",
        (CONVERTER_NAME, CONVERTER_STATUS),
    ),
    MetricInfo(
        CONVERTER_DURATION,
        "histogram",
        "s",
        "Duration of one converter run.",
        (CONVERTER_NAME, CONVERTER_STATUS),
        CONVERTER_BUCKETS,
    ),
)


@dataclass(frozen=True)
class SpanInfo:
    """One kind of span as the docs describe it."""

    name: str
    kind: str
    description: str
    attributes: tuple[str, ...]


SPANS: tuple[SpanInfo, ...] = (
    SpanInfo(
        SPAN_QUEUE_SEND,
        "PRODUCER",
        "An item is put into a queue; its context goes into the item's carrier.",
        (
            MESSAGING_SYSTEM,
            MESSAGING_DESTINATION_NAME,
            MESSAGING_OPERATION_TYPE,
            MESSAGING_OPERATION_NAME,
            MESSAGING_MESSAGE_ID,
            ERROR_TYPE,
        ),
    ),
    SpanInfo(
        SPAN_QUEUE_PROCESS,
        "CONSUMER",
        "An item is processed; child of its `send` span through the carrier.",
        (
            MESSAGING_SYSTEM,
            MESSAGING_DESTINATION_NAME,
            MESSAGING_OPERATION_TYPE,
            MESSAGING_OPERATION_NAME,
            MESSAGING_MESSAGE_ID,
            QUEUE_ATTEMPT,
            QUEUE_OUTCOME,
            ERROR_TYPE,
        ),
    ),
    SpanInfo(
        SPAN_CONVERT,
        "INTERNAL",
        "One converter run over one input file.",
        (
            CONVERTER_NAME,
            CONVERTER_STATUS,
            CONVERTER_RECORDS,
            CONVERTER_FILE_NAME,
            CONVERTER_FILE_EXTENSION,
            CONVERTER_FILE_SIZE,
            CONVERTER_FILE_PATH,
            ERROR_TYPE,
        ),
    ),
    SpanInfo(
        SPAN_HTTP_CLIENT,
        "CLIENT",
        "One httpx request, from the stock instrumentor; the URL without credentials or "
        "sensitive query values.",
        (
            HTTP_REQUEST_METHOD,
            URL_FULL,
            SERVER_ADDRESS,
            SERVER_PORT,
            NETWORK_PEER_ADDRESS,
            NETWORK_PEER_PORT,
            HTTP_RESPONSE_STATUS_CODE,
            NETWORK_PROTOCOL_VERSION,
            ERROR_TYPE,
        ),
    ),
)

METRICS_BY_NAME: dict[str, MetricInfo] = {metric.name: metric for metric in METRICS}


def histogram_buckets() -> dict[str, tuple[float, ...]]:
    """Bucket boundaries per histogram name, for the MeterProvider's views."""
    return {metric.name: metric.buckets for metric in METRICS if metric.buckets is not None}
