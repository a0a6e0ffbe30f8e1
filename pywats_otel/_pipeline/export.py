"""The telemetry pipeline's own bookkeeping: what each exporter sent, failed and dropped.

Every exporter the bootstrap builds is wrapped here. The wrappers count items, keep the time of
the last success and the cause of the last failure (scrubbed of secrets), and turn the SDK's
per-batch warnings into one warning per exporter per minute, so a dead collector cannot flood
the log.

The cause of a failure is taken from the export call itself: the OTLP exporters leave the
error on the result of their ``export_operation()`` (gRPC status code and details, the HTTP
exception or status code), and the SDK's warnings logged during the call are caught by a filter
that sits before the exporters' own ``DuplicateFilter``, which would otherwise drop a repeated
message template (whatever its code) for 20 seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from pywats_otel._base.ratelimit import due
from pywats_otel._base.redact import printable, scrub
from pywats_otel._base.text import plural
from pywats_otel._base.timefmt import iso

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "FAILURE_LOG_INTERVAL_S",
    "CountingBatchLogRecordProcessor",
    "CountingBatchSpanProcessor",
    "CountingLogExporter",
    "CountingMetricExporter",
    "CountingSpanExporter",
    "ExportStats",
    "install_sdk_log_filter",
]

_logger = logging.getLogger("pywats_otel.export")
FAILURE_LOG_INTERVAL_S = 60.0
#: The clock of the failure-report interval (tests replace it).
_clock = time.monotonic
# The export call running in this thread, so that the SDK's own warnings raised during that
# call are attributed to its exporter (and kept out of the log).
_current_call: contextvars.ContextVar[_Exporting | None] = contextvars.ContextVar(
    "pywats_otel_current_export", default=None
)


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else iso(timestamp)


class ExportStats:
    """Counters of one exporter of one signal. Thread-safe; read through :meth:`snapshot`.

    Failures are reported by one WARNING per exporter per ``FAILURE_LOG_INTERVAL_S`` at most,
    however successes and failures alternate; the INFO line of a recovery follows a reported
    failure and counts every failed export since the last success.
    """

    def __init__(
        self, signal: str, exporter: str, destination: str, *, counts_accepted: bool = False
    ) -> None:
        self.signal = signal
        self.exporter = exporter
        self.destination = destination
        self._lock = threading.Lock()
        #: Items handed to this exporter's pipeline (spans ended, records emitted, points
        #: given to a push export): exported + failed + dropped + pending, always.
        self.counts_accepted = counts_accepted
        self.accepted = 0
        self.exported = 0
        self.failed = 0
        self.dropped = 0
        #: Items still queued or being exported when shutdown ended (counted as dropped).
        self.left_behind = 0
        #: Items dropped because they came after shutdown.
        self.dropped_after_shutdown = 0
        #: What went wrong in the exporter's own shutdown(), if it raised.
        self.shutdown_error: str | None = None
        self._abandoned = 0
        self.failed_exports = 0
        #: Failed export calls since the last success (the health check reads it).
        self.consecutive_failures = 0
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        #: Says what is wrong at the first failure (a probe of the destination); returns the
        #: diagnosis or None. Runs once, in the exporting thread.
        self.diagnose: Callable[[], str | None] | None = None
        self._diagnosed = False
        self._failures_since_warning = 0
        self._last_warning: float | None = None
        self._warned_since_success = False

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's counts are the parent's (its queue is, too)."""
        self._lock = threading.Lock()
        self.accepted = self.exported = self.failed = self.dropped = 0
        self.left_behind = self.dropped_after_shutdown = self._abandoned = 0
        self.failed_exports = self.consecutive_failures = 0
        self.last_success = self.last_error = self.last_error_time = None
        self._failures_since_log = 0
        self._last_failure_log = None

    def _settle_abandoned(self, items: int) -> None:
        # An export that shutdown gave up on ended after all: its items move from dropped
        # (left behind) to what became of them, so that the sum stays right.
        taken = min(items, self._abandoned)
        self._abandoned -= taken
        self.dropped -= taken

    def record_accepted(self, items: int = 1) -> None:
        with self._lock:
            self.accepted += items

    def pending(self) -> int | None:
        """Items queued or being exported now; None when this exporter does not count them."""
        if not self.counts_accepted:
            return None
        with self._lock:
            return max(self.accepted - self.exported - self.failed - self.dropped, 0)

    def abandon(self) -> int:
        """At the end of shutdown: what is still pending is left behind, counted as dropped."""
        if not self.counts_accepted:
            return 0
        with self._lock:
            left = max(self.accepted - self.exported - self.failed - self.dropped, 0)
            self.dropped += left
            self.left_behind += left
            self._abandoned += left
            return left

    def record_success(self, items: int) -> None:
        with self._lock:
            self._settle_abandoned(items)
            self.exported += items
            self.last_success = time.time()
            failures, self.consecutive_failures = self.consecutive_failures, 0
            announce, self._warned_since_success = self._warned_since_success, False
        if failures and announce:
            _logger.info(
                "pywats_otel: %s export to %s recovered after %s since the last success",
                self.signal,
                self.destination,
                plural(failures, "failed export"),
            )

    def record_failure(self, items: int, error: str | None) -> None:
        now = _clock()
        with self._lock:
            self._settle_abandoned(items)
            self.failed += items
            self.failed_exports += 1
            self.consecutive_failures += 1
            cause = scrub(printable(error)) if error else "the exporter reported no cause"
            self.last_error = cause
            self.last_error_time = time.time()
            self._failures_since_warning += 1
            due = self._last_warning is None or now - self._last_warning >= FAILURE_LOG_INTERVAL_S
            first = self._last_warning is None
            if due:
                self._last_warning = now
                count, self._failures_since_warning = self._failures_since_warning, 0
                self._warned_since_success = True
            message, lost = self.last_error, self.failed
        # Counted first: the diagnosis (the first failure only) may take a few seconds.
        diagnosis = self._diagnosis()
        if diagnosis:
            message = f"{cause}; {scrub(printable(diagnosis))}"
            with self._lock:
                if self.last_error == cause:
                    self.last_error = message
        if due:
            since = "so far" if first else "since the last report of this"
            _logger.warning(
                "pywats_otel: %s export to %s failed: %s (%s %s, %s lost in all); "
                "the next report of this comes in a minute at most",
                self.signal,
                self.destination,
                message,
                plural(count, "failed export"),
                since,
                plural(lost, "item"),
            )

    def _diagnosis(self) -> str | None:
        """The destination's diagnosis, the first time only (it may take a few seconds)."""
        diagnose = self.diagnose
        with self._lock:
            if diagnose is None or self._diagnosed:
                return None
            self._diagnosed = True
        try:
            return diagnose()
        except Exception:  # a diagnosis must never break the export
            _logger.debug("pywats_otel: diagnosing %s failed", self.destination, exc_info=True)
            return None

    def record_dropped(self, items: int = 1, *, after_shutdown: bool = False) -> None:
        with self._lock:
            self.dropped += items
            if after_shutdown:
                self.dropped_after_shutdown += items

    def note_error(self, message: str) -> None:
        with self._lock:
            self.last_error = scrub(printable(message))
            self.last_error_time = time.time()

    def totals(self) -> tuple[int, int, int, int, float | None]:
        """(exported, failed, dropped, failed_exports, last_success), read together."""
        with self._lock:
            return (
                self.exported,
                self.failed,
                self.dropped,
                self.failed_exports,
                self.last_success,
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.exporter,
                "destination": self.destination,
                "exported": self.exported,
                "failed": self.failed,
                "dropped": self.dropped,
                "pending": (
                    max(self.accepted - self.exported - self.failed - self.dropped, 0)
                    if self.counts_accepted
                    else None
                ),
                "left_behind": self.left_behind,
                "dropped_after_shutdown": self.dropped_after_shutdown,
                "failed_exports": self.failed_exports,
                "consecutive_failures": self.consecutive_failures,
                "last_success": _iso(self.last_success),
                "last_error": self.last_error,
                "last_error_time": _iso(self.last_error_time),
            }


class _Exporting:
    """One export() call of an exporter: what the SDK said and left on its result meanwhile."""

    def __init__(self, stats: ExportStats) -> None:
        self.stats = stats
        self._token: contextvars.Token[_Exporting | None] | None = None
        #: The last WARNING (or ERROR, which wins) the SDK logged during the call.
        self.logged: str | None = None
        self._logged_level = 0
        #: What the exporter left on its export_operation() result (see _ResultHook).
        self.error: BaseException | None = None
        self.status_code: object = None

    def __enter__(self) -> _Exporting:
        self._token = _current_call.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current_call.reset(self._token)

    def note(self, level: int, message: str) -> None:
        if level >= self._logged_level:
            self.logged, self._logged_level = message, level

    def cause(self) -> str | None:
        """The failure's cause: the exporter's error, else what it logged, else its status."""
        if self.error is not None:
            return _describe(self.error)
        if self.status_code is not None:
            return f"HTTP {self.status_code}" + (f" ({self.logged})" if self.logged else "")
        return self.logged


class _ResultHook:
    """Wraps an OTLP exporter's ``_metrics`` (its self-observability) to read the error it
    leaves on the result of ``export_operation()`` before returning FAILURE: a gRPC RpcError,
    an HTTP transport exception, or an HTTP status code in ``error_attrs``. The SDK's own
    self-metrics go on working through the wrapped object."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @contextlib.contextmanager
    def export_operation(self, num_items: int) -> Iterator[Any]:
        with self.inner.export_operation(num_items) as result:
            try:
                yield result
            finally:
                call = _current_call.get()
                if call is not None:
                    call.error = getattr(result, "error", None)
                    attributes = getattr(result, "error_attrs", None) or {}
                    call.status_code = attributes.get("http.response.status_code")


def hook_result(exporter: object) -> None:
    """Read failure causes off ``exporter``'s export results, when it is an OTLP exporter of
    the SDK (1.45: the ``_metrics`` attribute with ``export_operation()``); else nothing."""
    inner = getattr(exporter, "_metrics", None)
    if inner is None or isinstance(inner, _ResultHook):
        return
    if callable(getattr(inner, "export_operation", None)):
        exporter._metrics = _ResultHook(inner)  # type: ignore[attr-defined]


def _describe(exc: BaseException) -> str:
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):  # grpc.RpcError, without importing grpc
        try:
            status = code()
            return f"{getattr(status, 'name', status)}: {details()}"
        except Exception:  # noqa: BLE001, S110 - fall back to the plain description
            pass
    return f"{type(exc).__name__}: {exc}"


class CountingSpanExporter(SpanExporter):
    """Delegates to a SpanExporter and counts what it exported and failed."""

    def __init__(self, delegate: SpanExporter, stats: ExportStats) -> None:
        self.delegate = delegate
        self.stats = stats
        #: Held around each export call; a fork takes it first (see _pipeline.fork).
        self.fork_gate = threading.Lock()
        hook_result(delegate)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        call = _Exporting(self.stats)
        error: str | None = None
        try:
            with self.fork_gate, call:
                result = self.delegate.export(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the worker
            result, error = SpanExportResult.FAILURE, _describe(exc)
        if result is SpanExportResult.SUCCESS:
            self.stats.record_success(len(spans))
        else:
            self.stats.record_failure(len(spans), error or call.cause())
        return result

    def shutdown(self) -> None:
        with _Exporting(self.stats) as call:
            _shut(self.stats, self.delegate.shutdown)
        if call.logged:
            self.stats.note_error(call.logged)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


def _shut(stats: ExportStats, shutdown: Any, **kwargs: Any) -> None:
    """The exporter's own shutdown(); an exception is kept for the one report of the
    Telemetry handle's shutdown, so that the other exporters still shut down."""
    try:
        shutdown(**kwargs)
    except Exception as exc:  # noqa: BLE001 - reported by Telemetry.shutdown, once
        stats.shutdown_error = scrub(_describe(exc))


class CountingLogExporter(LogRecordExporter):
    """Delegates to a LogRecordExporter and counts what it exported and failed."""

    def __init__(self, delegate: LogRecordExporter, stats: ExportStats) -> None:
        self.delegate = delegate
        self.stats = stats
        #: See CountingSpanExporter.fork_gate.
        self.fork_gate = threading.Lock()
        hook_result(delegate)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        call = _Exporting(self.stats)
        error: str | None = None
        try:
            with self.fork_gate, call:
                result = self.delegate.export(batch)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the worker
            result, error = LogRecordExportResult.FAILURE, _describe(exc)
        # Some exporters still return the deprecated LogExportResult enum: compare by name.
        if getattr(result, "name", None) == "SUCCESS":
            self.stats.record_success(len(batch))
        else:
            self.stats.record_failure(len(batch), error or call.cause())
        return result

    def shutdown(self) -> None:
        with _Exporting(self.stats) as call:
            _shut(self.stats, self.delegate.shutdown)
        if call.logged:
            self.stats.note_error(call.logged)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


def count_data_points(metrics_data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


class CountingMetricExporter(MetricExporter):
    """Delegates to a push MetricExporter and counts the data points it exported and failed."""

    def __init__(self, delegate: MetricExporter, stats: ExportStats) -> None:
        super().__init__(
            preferred_temporality=delegate._preferred_temporality,
            preferred_aggregation=delegate._preferred_aggregation,
        )
        self.delegate = delegate
        self.stats = stats
        #: See CountingSpanExporter.fork_gate.
        self.fork_gate = threading.Lock()
        hook_result(delegate)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        points = count_data_points(metrics_data)
        self.stats.record_accepted(points)
        call = _Exporting(self.stats)
        error: str | None = None
        try:
            with self.fork_gate, call:
                result = self.delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the reader
            result, error = MetricExportResult.FAILURE, _describe(exc)
        if result is MetricExportResult.SUCCESS:
            self.stats.record_success(points)
        else:
            self.stats.record_failure(points, error or call.cause())
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.delegate.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with _Exporting(self.stats) as call:
            _shut(self.stats, self.delegate.shutdown, timeout_millis=timeout_millis, **kwargs)
        if call.logged:
            self.stats.note_error(call.logged)


class _DropCounter:
    """Stands in for the SDK batch processor's own ``_metrics``: its ``drop_items()`` is called
    exactly where the SDK drops an item (a full queue, or after shutdown), so the drops are
    counted there, not guessed from the queue's length beside a worker that empties it."""

    def __init__(self, delegate: Any, stats: ExportStats) -> None:
        self._delegate = delegate
        self._stats = stats

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        self._stats.record_dropped(count, after_shutdown=error_type == "already_shutdown")
        self._delegate.drop_items(count, error_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._delegate, name)


def _count_drops(processor: object, stats: ExportStats) -> bool:
    """Put the drop counter into the SDK's BatchProcessor; False when its shape is not the one
    this was written for (drops are then read from the queue's length)."""
    batch = getattr(processor, "_batch_processor", None)
    metrics = getattr(batch, "_metrics", None)
    if metrics is None or not callable(getattr(metrics, "drop_items", None)):
        return False
    batch._metrics = _DropCounter(metrics, stats)  # type: ignore[union-attr]
    return True


def _count(processor: object, stats: ExportStats, exact: bool) -> None:
    """Count an item the SDK's batch processor is about to take: accepted, and (when the drop
    counter could not be put in) dropped when its queue is full or it is shut down.

    Reads private attributes of the SDK's BatchProcessor; when they change shape the drop
    count stays at zero instead of failing.
    """
    stats.record_accepted()
    if exact:
        return
    batch = getattr(processor, "_batch_processor", None)
    if getattr(batch, "_shutdown", False):
        stats.record_dropped(after_shutdown=True)
        return
    queue = getattr(batch, "_queue", None)
    capacity = getattr(batch, "_max_queue_size", None)
    if queue is not None and capacity is not None and len(queue) >= capacity:
        stats.record_dropped()


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's BatchSpanProcessor, counting the spans it drops because its queue is full."""

    def __init__(self, exporter: SpanExporter, stats: ExportStats, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self.stats = stats
        self._exact = _count_drops(self, stats)
        #: The SDK's provider shutdown passes no timeout; the Telemetry handle sets this first.
        self.shutdown_timeout_ms = 30_000.0
        self._feed: Any = None
        self._feed_append: Any = None

    def feed(self, recent: Any) -> None:
        """Queue each ended span for ``recent`` (the /traces processor) too, from this
        processor's own on_end: the SDK then calls one processor less per span."""
        self._feed, self._feed_append = recent, recent._append

    def on_end(self, span: ReadableSpan) -> None:
        append = self._feed_append
        if append is not None:
            # RecentTraces.on_end, inlined: a queue append, sorted into traces in batches.
            append(span)
            feed = self._feed
            if len(feed._queue) >= feed._drain_at:
                feed._drain()
        # The SDK's own on_end (sampled spans to the batch), with the count: one call less.
        context = span.context
        if context is not None and context.trace_flags.sampled:
            _count(self, self.stats, self._exact)
            self._batch_processor.emit(span)

    def shutdown(self) -> None:
        self._batch_processor.shutdown(timeout_millis=int(self.shutdown_timeout_ms))


class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """The SDK's BatchLogRecordProcessor, counting the records it drops."""

    def __init__(self, exporter: LogRecordExporter, stats: ExportStats, **kwargs: Any) -> None:
        super().__init__(exporter, **kwargs)
        self.stats = stats
        self._exact = _count_drops(self, stats)
        #: See CountingBatchSpanProcessor.shutdown_timeout_ms.
        self.shutdown_timeout_ms = 30_000.0

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        _count(self, self.stats, self._exact)
        super().on_emit(log_record)

    def shutdown(self) -> None:
        self._batch_processor.shutdown(timeout_millis=int(self.shutdown_timeout_ms))


class _SDKLogFilter(logging.Filter):
    """Keeps the SDK's and exporters' warnings from flooding the log.

    A warning raised inside an export call is part of that call's failure (the exporter
    wrapper reports failures once a minute, with their cause); any other warning passes at
    most once a minute per message template. It is the first filter of each logger, before
    the SDK's DuplicateFilter, so that it sees every record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        call = _current_call.get()
        if call is not None:
            try:
                call.note(record.levelno, record.getMessage())
            except Exception:  # noqa: BLE001 - a malformed record must not break export
                call.note(record.levelno, str(record.msg))
            return False
        try:
            return due(("sdk-log", record.name, record.msg))
        except TypeError:  # a message object that cannot be a key: let it through
            return True


_sdk_filter = _SDKLogFilter()
_FILTERED_PREFIXES = ("opentelemetry.sdk", "opentelemetry.exporter", "urllib3", "grpc")


def install_sdk_log_filter() -> None:
    """Make the filter the first one of the SDK's and exporters' loggers that exist now.

    Logger filters apply only to records logged on that very logger, so each one gets it.
    """
    names = [
        name
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.startswith(_FILTERED_PREFIXES)
    ]
    for name in names:
        logger = logging.getLogger(name)
        if logger.filters[:1] != [_sdk_filter]:
            if _sdk_filter in logger.filters:
                logger.removeFilter(_sdk_filter)
            logger.filters.insert(0, _sdk_filter)


def remove_sdk_log_filter() -> None:
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and _sdk_filter in logger.filters:
            logger.removeFilter(_sdk_filter)
