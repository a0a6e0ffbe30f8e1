"""The recent traces of this process, for ``/traces`` and the demo: a span processor that keeps
the last finished spans of the last traces, within fixed bounds.

In the spirit of the zPages ``tracez`` page of OpenTelemetry Java, Go and the Collector, which
Python lacks. On by default while the endpoint is; its cost per span is a lock, a dictionary
look-up and an append (``python -m benchmarks`` measures it, case "span with /traces").

Bounds: the last ``recent_traces`` traces and, besides them, the last ``recent_failed_traces``
that hold a span with status ERROR (so that a burst of good traces does not push out the
failure you are looking for), each with at most ``recent_trace_spans`` spans (later spans are
counted, not kept). The spans are the SDK's own finished span objects, not copies.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

__all__ = ["RecentTraces", "TraceRecord"]

_ERROR = StatusCode.ERROR
_logger = logging.getLogger("pywats_otel")


def _public_trace_id(span: ReadableSpan) -> int:
    context = span.context
    return context.trace_id if context is not None else 0


def _public_status_code(span: ReadableSpan) -> StatusCode:
    return span.status.status_code


def _readers() -> tuple[Callable[[ReadableSpan], int], Callable[[ReadableSpan], StatusCode]]:
    """The trace ID and the status code of a span. The SDK's public properties cost a Python
    call each, a sizeable part of the page's cost per span: where the SDK's span keeps them
    in ``_context`` and ``_status`` (1.45), read those in C, after checking on a real span
    that this gives what the properties give; else use the properties."""
    from opentelemetry.sdk.trace import TracerProvider

    trace_id = operator.attrgetter("_context.trace_id")
    status_code = operator.attrgetter("_status._status_code")
    try:
        tracer = TracerProvider(shutdown_on_exit=False).get_tracer(__name__)
        probe: Any = tracer.start_span("probe")
        probe.set_status(StatusCode.ERROR)
        probe.end()
        if (trace_id(probe), status_code(probe)) == (
            _public_trace_id(probe),
            _public_status_code(probe),
        ):
            return trace_id, status_code
    except Exception:  # another SDK: the properties always work
        _logger.debug("pywats_otel: /traces reads spans through their properties", exc_info=True)
    return _public_trace_id, _public_status_code


_trace_id, _status_code = _readers()


class TraceRecord:
    """The kept spans of one trace, in the order they ended."""

    __slots__ = ("errors", "spans", "spans_dropped", "trace_id")

    def __init__(
        self,
        trace_id: int,
        spans: list[ReadableSpan] | None = None,
        spans_dropped: int = 0,
        errors: int = 0,
    ) -> None:
        self.trace_id = trace_id
        self.spans: list[ReadableSpan] = [] if spans is None else spans
        #: Spans of this trace that ended after the cap was reached: counted, not kept.
        self.spans_dropped = spans_dropped
        #: Spans with status ERROR among all that ended (kept or not).
        self.errors = errors

    @property
    def failed(self) -> bool:
        return self.errors > 0

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    @property
    def start_time(self) -> int:
        return min((span.start_time or 0 for span in self.spans), default=0)

    @property
    def end_time(self) -> int:
        return max((span.end_time or 0 for span in self.spans), default=0)


class RecentTraces(SpanProcessor):
    """Keeps the recent traces (see the module); thread-safe, never raises into the SDK.

    ``on_end`` only queues the span; the queue is sorted into traces, and cut to the bounds,
    when it holds ``drain_at`` spans or when the page is read. Sorting reads each queued
    span's trace ID and status once and keeps only the spans of the traces that stay: the
    last ``max_traces`` the batch touched, and those with a failed span.
    """

    def __init__(
        self,
        max_traces: int = 100,
        max_failed: int = 50,
        max_spans: int = 200,
        *,
        drain_at: int = 2048,
    ) -> None:
        self.max_traces = max(max_traces, 1)
        self.max_failed = max(max_failed, 0)
        self.max_spans = max(max_spans, 1)
        self._drain_at = max(drain_at, 1)
        #: Ended spans not yet sorted into traces (deque: appends need no lock).
        self._queue: deque[ReadableSpan] = deque()
        self._append = self._queue.append
        self._lock = threading.Lock()
        # Most recently active last. A trace may be in both; it is kept while in either.
        self._recent: OrderedDict[int, TraceRecord] = OrderedDict()
        self._failed: OrderedDict[int, TraceRecord] = OrderedDict()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self._append(span)
        if len(self._queue) >= self._drain_at:
            self._drain()

    def record(self, span: ReadableSpan) -> None:
        """What ``on_end`` does, for a processor that feeds this one from its own ``on_end``
        (the pipeline's batch span processor, which saves the SDK a processor's calls)."""
        self._append(span)
        if len(self._queue) >= self._drain_at:
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            queue = self._queue
            popleft = queue.popleft
            # As many as are queued now; spans queued meanwhile wait for the next time.
            batch = [popleft() for _ in range(len(queue))]
            if not batch:
                return
            try:
                self._sort(batch)
            except Exception:  # never into the SDK's span end: these spans are left out
                _logger.debug("pywats_otel: /traces could not sort spans", exc_info=True)

    def _sort(self, batch: list[ReadableSpan]) -> None:
        """Put ended spans (oldest first) into the kept traces, within the bounds."""
        ids = list(map(_trace_id, batch))
        codes = list(map(_status_code, batch))
        failing = (
            {trace_id for trace_id, code in zip(ids, codes, strict=True) if code is _ERROR}
            if self.max_failed and _ERROR in codes
            else set()
        )
        # The traces the batch keeps recent: the last max_traces it touched, newest first.
        window: dict[int, None] = {}
        limit = self.max_traces
        for trace_id in reversed(ids):
            if trace_id not in window:
                if len(window) >= limit:
                    break
                window[trace_id] = None
        recent, failed = self._recent, self._failed
        wanted = window.keys() | failing | failed.keys()
        max_spans = self.max_spans
        for span, trace_id, code in zip(batch, ids, codes, strict=True):
            if trace_id not in wanted:
                continue
            record = recent.get(trace_id) or failed.get(trace_id)
            if record is None:
                record = TraceRecord(trace_id)
                if trace_id not in window:  # a failed trace older than the window
                    failed[trace_id] = record
            if trace_id in window and trace_id not in recent:
                recent[trace_id] = record
            spans = record.spans
            if len(spans) < max_spans:
                spans.append(span)
            else:
                record.spans_dropped += 1
            if code is _ERROR:
                record.errors += 1
        for trace_id in reversed(window):
            recent.move_to_end(trace_id)
        while len(recent) > limit:
            recent.popitem(last=False)
        if not failing:
            return
        for trace_id in dict.fromkeys(trace_id for trace_id in ids if trace_id in failing):
            record = recent.get(trace_id) or failed.get(trace_id)
            if record is not None:
                failed[trace_id] = record
                failed.move_to_end(trace_id)
        while len(failed) > self.max_failed:
            failed.popitem(last=False)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # -- reading

    def traces(self) -> list[TraceRecord]:
        """The kept traces: failed ones first, then the others, the most recent first."""
        self._drain()
        with self._lock:
            failed = list(reversed(self._failed.values()))
            others = [
                record
                for record in reversed(self._recent.values())
                if record.trace_id not in self._failed
            ]
            return [_copy(record) for record in failed + others]

    def get(self, trace_id: int) -> TraceRecord | None:
        """The kept trace with this ID, or None."""
        self._drain()
        with self._lock:
            record = self._recent.get(trace_id) or self._failed.get(trace_id)
            return _copy(record) if record is not None else None

    def counts(self) -> tuple[int, int]:
        """(traces kept, failed traces kept)."""
        self._drain()
        with self._lock:
            return len(self._recent.keys() | self._failed.keys()), len(self._failed)


def _copy(record: TraceRecord) -> TraceRecord:
    """A snapshot the caller may read while spans keep arriving."""
    return TraceRecord(record.trace_id, list(record.spans), record.spans_dropped, record.errors)
