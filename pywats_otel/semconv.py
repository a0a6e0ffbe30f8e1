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
#: Set in a forked child, beside its own process.pid.
PROCESS_PARENT_PID = "process.parent_pid"
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

# -- HTTP headers -------------------------------------------------------------------------

#: The default of the correlation_header setting: the header beside traceparent that carries
#: the correlation ID (the trace ID).
DEFAULT_CORRELATION_HEADER = "X-Correlation-ID"

EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"

# pyWATS (the pywats instrumentation): the route template of a pyWATS API call, its path with
# identifiers (serial numbers, part numbers, IDs) replaced by {id}:
# /api/Production/Unit/{id}/{id}.
PYWATS_API_ROUTE = "pywats.api.route"
#: The labels of pyWATS's own pywats_errors_total (the pywats_legacy_metrics setting), exactly as
#: pyWATS names them.
PYWATS_LEGACY_ERROR_TYPE = "error_type"
PYWATS_LEGACY_OPERATION = "operation"

#: An incoming correlation header value that did not become the trace ID (not 32 hex digits,
#: or a traceparent came with it and won), kept so that the caller's ID can still be found.
CORRELATION_INCOMING_ID = "pywats.correlation.incoming_id"
#: Where the trace ID of a correlation_scope() came from (CORRELATION_ORIGINS).
CORRELATION_ORIGIN = "pywats.correlation.origin"
CORRELATION_ORIGIN_TRACEPARENT = "traceparent"
CORRELATION_ORIGIN_HEADER = "correlation_header"
CORRELATION_ORIGIN_ACTIVE = "active_span"
CORRELATION_ORIGIN_NEW = "new"
CORRELATION_ORIGINS = (
    CORRELATION_ORIGIN_TRACEPARENT,
    CORRELATION_ORIGIN_HEADER,
    CORRELATION_ORIGIN_ACTIVE,
    CORRELATION_ORIGIN_NEW,
)

# -- log record fields ------------------------------------------------------------------------
# Attributes the logging instrumentation and CorrelationFilter put on every LogRecord, usable as
# %(trace_id)s in a format string, and keys of JsonFormatter's objects.

LOG_TRACE_ID = "trace_id"
LOG_SPAN_ID = "span_id"
LOG_CORRELATION_ID = "correlation_id"
LOG_TRACE_FLAGS = "trace_flags"
LOG_FIELDS = (LOG_TRACE_ID, LOG_SPAN_ID, LOG_CORRELATION_ID, LOG_TRACE_FLAGS)

# JsonFormatter's other keys (it adds SERVICE_NAME and the EXCEPTION_* keys too).
LOG_TIME = "time"
LOG_LEVEL = "level"
LOG_LOGGER = "logger"
LOG_MESSAGE = "message"
LOG_STACK_INFO = "stack_info"

# OpenTelemetry semantic conventions of the process and system metrics.
CPU_MODE = "cpu.mode"
SYSTEM_MEMORY_STATE = "system.memory.state"
SYSTEM_DEVICE = "system.device"
SYSTEM_FILESYSTEM_MOUNTPOINT = "system.filesystem.mountpoint"
SYSTEM_FILESYSTEM_TYPE = "system.filesystem.type"
SYSTEM_FILESYSTEM_STATE = "system.filesystem.state"

# The telemetry pipeline's own status: which signal, which exporter (its setting name), and
# what became of the items (exported, failed, dropped).
OTEL_SIGNAL = "pywats.otel.signal"
OTEL_EXPORTER = "pywats.otel.exporter"
OTEL_EXPORT_OUTCOME = "pywats.otel.export.outcome"

#: The attribute of the one series a metric's measurements go to once it reached the
#: cardinality limit (the metrics SDK specification's name and value: true).
OTEL_METRIC_OVERFLOW = "otel.metric.overflow"
#: The metric (stream) name in pywats_otel's counts of overflow and replaced values.
OTEL_METRIC_NAME = "pywats.otel.metric.name"

HEALTH_CHECK_NAME = "pywats.health.check.name"
HEALTH_STATUS = "pywats.health.status"
#: "true" or "false": whether the check is critical (a failure makes /health/ready 503).
HEALTH_CHECK_CRITICAL = "pywats.health.check.critical"

# -- metrics --------------------------------------------------------------------------------

HTTP_CLIENT_REQUEST_DURATION = "http.client.request.duration"
QUEUE_ENQUEUED = "pywats.queue.enqueued"
QUEUE_PROCESSED = "pywats.queue.processed"
QUEUE_PROCESSING_DURATION = "pywats.queue.processing.duration"
QUEUE_WAIT_DURATION = "pywats.queue.wait.duration"
QUEUE_DEPTH = "pywats.queue.depth"
CONVERTER_EXECUTIONS = "pywats.converter.executions"
CONVERTER_DURATION = "pywats.converter.duration"

PROCESS_CPU_UTILIZATION = "process.cpu.utilization"
PROCESS_MEMORY_USAGE = "process.memory.usage"
PROCESS_THREAD_COUNT = "process.thread.count"
# The DESIGN's name; newer semantic conventions call it process.unix.file_descriptor.count.
PROCESS_OPEN_FILE_DESCRIPTOR_COUNT = "process.open_file_descriptor.count"
SYSTEM_CPU_UTILIZATION = "system.cpu.utilization"
SYSTEM_MEMORY_UTILIZATION = "system.memory.utilization"
SYSTEM_FILESYSTEM_UTILIZATION = "system.filesystem.utilization"

# Prometheus reserves the _count suffix for histograms and summaries (promtool rejects a gauge
# called x_count), so /metrics serves these two under the names Prometheus client libraries
# give the same values; OTLP keeps the semconv names.
PROMETHEUS_RENAMES = {
    "process_thread_count": "process_threads",
    "process_open_file_descriptor_count": "process_open_fds",
}

OTEL_EXPORT_ITEMS = "pywats.otel.export.items"
OTEL_EXPORT_FAILURES = "pywats.otel.export.failures"
OTEL_EXPORT_LAST_SUCCESS_TIME = "pywats.otel.export.last_success_time"
OTEL_METRIC_OVERFLOW_MEASUREMENTS = "pywats.otel.metric.overflow"
OTEL_METRIC_REPLACED_VALUES = "pywats.otel.metric.replaced_values"

HEALTH_CHECK_STATUS = "pywats.health.check.status"
HEALTH_CHECK_DURATION = "pywats.health.check.duration"

PYWATS_API_REQUEST_DURATION = "pywats.api.request.duration"
#: pyWATS's own name, recorded only with the pywats_legacy_metrics setting (it has no twin here).
PYWATS_LEGACY_ERRORS = "pywats.errors"

# -- span names -----------------------------------------------------------------------------

SPAN_QUEUE_SEND = "send {queue}"
SPAN_QUEUE_PROCESS = "process {queue}"
SPAN_CONVERT = "convert {converter}"
SPAN_CORRELATION_SCOPE = "correlation scope"
#: One pyWATS API call (its HTTP attempts are the httpx CLIENT spans below it).
SPAN_PYWATS_API = "WATS {method} {route}"
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

# One health check: in-memory reads in microseconds, a disk in milliseconds, an HTTP request
# up to its timeout.
HEALTH_CHECK_BUCKETS = (
    0.0001,
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
        # Word for word the stock instrumentor's description: pywats_otel records the requests
        # that end in an exception (which the stock one leaves out) into the same metric.
        "Duration of HTTP client requests.",
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
    # -- process and system (the system instrumentation, read with psutil at collection)
    MetricInfo(
        PROCESS_CPU_UTILIZATION,
        "gauge",
        "1",
        "CPU time of this process since the previous reading (at least 1 s before), divided "
        "by the elapsed time and the number of CPUs available to it.",
        (),
    ),
    MetricInfo(
        PROCESS_MEMORY_USAGE,
        "updowncounter",
        "By",
        "Physical memory (resident set size) of this process.",
        (),
    ),
    MetricInfo(
        PROCESS_THREAD_COUNT,
        "updowncounter",
        "{thread}",
        "Threads of this process.",
        (),
    ),
    MetricInfo(
        PROCESS_OPEN_FILE_DESCRIPTOR_COUNT,
        "updowncounter",
        "{file_descriptor}",
        "File descriptors open in this process (not reported on Windows).",
        (),
    ),
    MetricInfo(
        SYSTEM_CPU_UTILIZATION,
        "gauge",
        "1",
        "Share of all CPUs' time per mode since the previous reading (at least 1 s before).",
        (CPU_MODE,),
    ),
    MetricInfo(
        SYSTEM_MEMORY_UTILIZATION,
        "gauge",
        "1",
        "Share of the system's memory in use: (total - available) / total.",
        (SYSTEM_MEMORY_STATE,),
    ),
    MetricInfo(
        SYSTEM_FILESYSTEM_UTILIZATION,
        "gauge",
        "1",
        "Share of the filesystem in use, as df shows it, for each filesystem of disk_paths.",
        (
            SYSTEM_FILESYSTEM_MOUNTPOINT,
            SYSTEM_DEVICE,
            SYSTEM_FILESYSTEM_TYPE,
            SYSTEM_FILESYSTEM_STATE,
        ),
    ),
    # -- the telemetry pipeline's own status
    MetricInfo(
        OTEL_EXPORT_ITEMS,
        "counter",
        "{item}",
        "Spans, metric points (Prometheus: samples served) and log records per exporter, by "
        "outcome: exported, failed (the export was refused or timed out), dropped (a full "
        "queue).",
        (OTEL_SIGNAL, OTEL_EXPORTER, OTEL_EXPORT_OUTCOME),
    ),
    MetricInfo(
        OTEL_EXPORT_FAILURES,
        "counter",
        "{export}",
        "Failed export calls (batches, metric collections, scrapes) per exporter.",
        (OTEL_SIGNAL, OTEL_EXPORTER),
    ),
    MetricInfo(
        OTEL_EXPORT_LAST_SUCCESS_TIME,
        "gauge",
        "s",
        "Unix time of the last successful export (Prometheus: scrape) per exporter; absent "
        "before the first.",
        (OTEL_SIGNAL, OTEL_EXPORTER),
    ),
    MetricInfo(
        OTEL_METRIC_OVERFLOW_MEASUREMENTS,
        "counter",
        "{measurement}",
        "Measurements of a metric that had reached metric_cardinality_limit, counted in its "
        "series with otel.metric.overflow=true instead of a new series, per reader (exporter).",
        (OTEL_EXPORTER, OTEL_METRIC_NAME),
    ),
    MetricInfo(
        OTEL_METRIC_REPLACED_VALUES,
        "counter",
        "{value}",
        "Attribute keys and values of new series that were not valid UTF-8 text (a byte that "
        "is not UTF-8 in a name or variable) and were written with backslash escapes instead, "
        "per reader (exporter).",
        (OTEL_EXPORTER, OTEL_METRIC_NAME),
    ),
    # -- health checks
    MetricInfo(
        HEALTH_CHECK_STATUS,
        "gauge",
        "1",
        "1 for the status each health check had at its last run, 0 for the other statuses "
        "(ok, warn, fail, timeout); critical is true for checks whose failure makes the station "
        "not ready.",
        (HEALTH_CHECK_NAME, HEALTH_CHECK_CRITICAL, HEALTH_STATUS),
    ),
    MetricInfo(
        HEALTH_CHECK_DURATION,
        "histogram",
        "s",
        "Duration of one health check run (the timeout, for a check cut at its timeout).",
        (HEALTH_CHECK_NAME, HEALTH_STATUS),
        HEALTH_CHECK_BUCKETS,
    ),
    # -- pyWATS (the pywats instrumentation)
    MetricInfo(
        PYWATS_API_REQUEST_DURATION,
        "histogram",
        "s",
        "Duration of one pyWATS API call, its retries included (a cached GET makes none).",
        (HTTP_REQUEST_METHOD, PYWATS_API_ROUTE, HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE),
        HTTP_DURATION_BUCKETS,
    ),
    MetricInfo(
        PYWATS_LEGACY_ERRORS,
        "counter",
        "{error}",
        "pyWATS API calls that failed, under pyWATS's own name and labels; only with the "
        "pywats_legacy_metrics setting.",
        (PYWATS_LEGACY_ERROR_TYPE, PYWATS_LEGACY_OPERATION),
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
        SPAN_CORRELATION_SCOPE,
        "INTERNAL",
        "A job adopts an incoming correlation (traceparent or correlation header) or starts "
        "one: `correlation.correlation_scope()`.",
        (CORRELATION_ORIGIN, CORRELATION_INCOMING_ID, ERROR_TYPE),
    ),
    SpanInfo(
        SPAN_PYWATS_API,
        "INTERNAL",
        "One pyWATS API call (`pyWATS` or `AsyncWATS`), parent of the httpx CLIENT span of "
        "each attempt; status ERROR for an exception or an HTTP status of 400 and above.",
        (
            HTTP_REQUEST_METHOD,
            PYWATS_API_ROUTE,
            SERVER_ADDRESS,
            SERVER_PORT,
            HTTP_RESPONSE_STATUS_CODE,
            ERROR_TYPE,
        ),
    ),
    SpanInfo(
        SPAN_HTTP_CLIENT,
        "CLIENT",
        "One httpx request (pywats_otel's transport instrumentation, or the stock "
        "instrumentor with `httpx_instrumentation=stock`); the URL without credentials or "
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


def metric_info(name: str) -> MetricInfo:
    """The MetricInfo of metric ``name`` (instruments take their unit and description here)."""
    return METRICS_BY_NAME[name]


def prometheus_name(metric: MetricInfo) -> str:
    """The name /metrics serves ``metric`` under (histograms add _bucket, _sum and _count).

    The same translation as opentelemetry-exporter-prometheus: dots to underscores, the unit as
    a suffix (``s`` -> ``_seconds``, ``By`` -> ``_bytes``; ``1`` and ``{annotations}`` none),
    ``_total`` for counters; then PROMETHEUS_RENAMES.
    """
    from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_full_name

    name = sanitize_full_name(metric.name)
    unit = map_unit(metric.unit)
    if unit and not name.endswith(f"_{unit}"):
        name = f"{name}_{unit}"
    name = PROMETHEUS_RENAMES.get(name, name)
    return f"{name}_total" if metric.kind == "counter" else name


def histogram_buckets() -> dict[str, tuple[float, ...]]:
    """Bucket boundaries per histogram name, for the MeterProvider's views."""
    return {metric.name: metric.buckets for metric in METRICS if metric.buckets is not None}
