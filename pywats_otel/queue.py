"""Queue instrumentation: a PRODUCER span when an item is queued and a CONSUMER span, its child,
when the item is processed, linked through a carrier stored with the item; queue metrics.

The carrier is a ``dict[str, str]`` the caller keeps with the item (its metadata), so the trace
survives the item being persisted to disk and read back by another process::

    from pywats_otel import queue

    with queue.enqueue("reports", item.metadata, item_id=item.id):
        store(item)                              # item.metadata now holds traceparent

    with queue.process("reports", item.metadata, item_id=item.id, attempt=n) as work:
        upload(item)                             # a child of the send span
        # work.outcome = "retry"                 # default "success"; "failed" on exception

``TracedQueue`` (like ``queue.Queue``) and ``AsyncTracedQueue`` (like ``asyncio.Queue``) do all
of this by themselves. Nothing here raises because of telemetry: a missing or corrupt carrier
gives a new root span, odd attribute values are dropped, user exceptions pass unchanged.
"""

from __future__ import annotations

import asyncio
import math
import queue as _stdlib_queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Any, Generic, Literal, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from pywats_otel import semconv
from pywats_otel._base import w3c
from pywats_otel._base.otel import PerMeterProvider, create_instrument, tracer
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.scope import (
    NameCache,
    final_value,
    mark_failed,
    normalise,
    record_exception,
    reset_quietly,
    traced_calls,
)
from pywats_otel._base.values import safe_int, safe_str

__all__ = [
    "AsyncTracedQueue",
    "Carrier",
    "Outcome",
    "Processing",
    "TracedQueue",
    "Work",
    "begin_processing",
    "current_work",
    "enqueue",
    "observe_queue_depth",
    "process",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: What the caller stores with an item: W3C trace context and the enqueue time, all text.
Carrier = MutableMapping[str, str]
Outcome = Literal["success", "failed", "retry"]
DepthCallback = Callable[[], Mapping[str, int]]

_OUTCOMES = frozenset(semconv.QUEUE_OUTCOMES)
_PROCESS = semconv.MESSAGING_OPERATION_PROCESS
_SEND = semconv.MESSAGING_OPERATION_SEND


# -- metrics --------------------------------------------------------------------------------


class _Instruments:
    def __init__(self, meter: metrics.Meter) -> None:
        self.enqueued = create_instrument(meter, semconv.QUEUE_ENQUEUED)
        self.processed = create_instrument(meter, semconv.QUEUE_PROCESSED)
        self.processing_duration = create_instrument(meter, semconv.QUEUE_PROCESSING_DURATION)
        self.wait_duration = create_instrument(meter, semconv.QUEUE_WAIT_DURATION)
        self.depth = create_instrument(meter, semconv.QUEUE_DEPTH, _observe_depth)


_instruments = PerMeterProvider(_Instruments)


class _Names:
    """Span names and attribute sets of one queue name, built once instead of per item."""

    __slots__ = ("metric", "outcomes", "process", "process_attributes", "send", "send_attributes")

    def __init__(self, name: str) -> None:
        self.send = semconv.SPAN_QUEUE_SEND.format(queue=name)
        self.process = semconv.SPAN_QUEUE_PROCESS.format(queue=name)
        base = {
            semconv.MESSAGING_SYSTEM: semconv.MESSAGING_SYSTEM_VALUE,
            semconv.MESSAGING_DESTINATION_NAME: name,
        }
        self.send_attributes = {
            **base,
            semconv.MESSAGING_OPERATION_TYPE: _SEND,
            semconv.MESSAGING_OPERATION_NAME: _SEND,
        }
        self.process_attributes = {
            **base,
            semconv.MESSAGING_OPERATION_TYPE: _PROCESS,
            semconv.MESSAGING_OPERATION_NAME: _PROCESS,
        }
        self.metric = {semconv.QUEUE_NAME: name}
        self.outcomes = {
            outcome: {semconv.QUEUE_NAME: name, semconv.QUEUE_OUTCOME: outcome}
            for outcome in semconv.QUEUE_OUTCOMES
        }


_names = NameCache(_Names).get


# -- the carrier ----------------------------------------------------------------------------

_fields_of: tuple[object, frozenset[str]] = (None, frozenset())


def _propagator_fields() -> frozenset[str]:
    """The keys the global propagator writes; cleared before a carrier is written again."""
    global _fields_of  # noqa: PLW0603 - a one-entry cache keyed by the propagator
    propagator = propagate.get_global_textmap()
    cached_for, fields = _fields_of
    if cached_for is not propagator:
        fields = frozenset(propagator.fields) | {semconv.CARRIER_ENQUEUED_AT}
        _fields_of = (propagator, fields)
    return fields


def _write_carrier(carrier: object) -> None:
    if type(carrier) is not dict and not isinstance(carrier, MutableMapping):
        if carrier is not None:
            warn_once(
                ("queue-carrier-type", type(carrier)),
                "pywats_otel: a queue carrier must be a dict[str, str], got %s; "
                "the item's trace context is not stored",
                type(carrier).__name__,
            )
        return
    if carrier:  # written before: the new context must not keep an old tracestate or baggage
        for key in _propagator_fields():
            if key in carrier:
                del carrier[key]
    w3c.inject(carrier, otel_context.get_current())
    carrier[semconv.CARRIER_ENQUEUED_AT] = f"{time.time():.6f}"


def _read_carrier(carrier: object) -> tuple[otel_context.Context, float | None]:
    """The producer's context (empty: a root span follows) and the enqueue time, if known."""
    empty = otel_context.Context()
    if type(carrier) is not dict and not isinstance(carrier, Mapping):
        if carrier is not None:
            warn_once(
                ("queue-carrier-corrupt", type(carrier)),
                "pywats_otel: a queue carrier is a %s, not a dict[str, str]; "
                "the item is processed in a new trace",
                type(carrier).__name__,
            )
        return empty, None
    if not carrier:
        return empty, None
    try:
        parent = w3c.extract(carrier, empty)
    except Exception:
        warn_once(
            "queue-carrier-extract",
            "pywats_otel: a queue carrier holds an unreadable trace context; "
            "the item is processed in a new trace",
        )
        parent = empty
    enqueued_at: float | None = None
    raw = carrier.get(semconv.CARRIER_ENQUEUED_AT)
    if raw is not None:
        try:
            enqueued_at = float(raw)
        except (TypeError, ValueError):
            enqueued_at = None
        if enqueued_at is not None and not math.isfinite(enqueued_at):
            enqueued_at = None
    return parent, enqueued_at


def _message_id(item_id: object) -> str | None:
    return None if item_id is None else safe_str(item_id)


# -- enqueue ------------------------------------------------------------------------------


class _Enqueue:
    """The context manager of :func:`enqueue`."""

    __slots__ = ("_carrier", "_item_id", "_names", "_span", "_token")

    def __init__(self, queue_name: object, carrier: object, item_id: object) -> None:
        self._names: _Names | None = None
        self._carrier = carrier
        self._item_id = item_id
        self._span: Span | None = None
        self._token: Token[otel_context.Context] | None = None
        try:
            self._names = _names(queue_name)
        except Exception:
            warn_once("queue-enqueue", "pywats_otel: queue telemetry failed", exc_info=True)

    def __enter__(self) -> Span:
        names = self._names
        if names is None:
            return INVALID_SPAN
        try:
            attributes: dict[str, Any] = dict(names.send_attributes)
            message_id = _message_id(self._item_id)
            if message_id is not None:
                attributes[semconv.MESSAGING_MESSAGE_ID] = message_id
            span = tracer().start_span(names.send, kind=SpanKind.PRODUCER, attributes=attributes)
            self._span = span
            self._token = otel_context.attach(trace.set_span_in_context(span))
            _write_carrier(self._carrier)
        except Exception:
            warn_once("queue-enqueue", "pywats_otel: queue telemetry failed", exc_info=True)
        return self._span or INVALID_SPAN

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        span, names = self._span, self._names
        if span is None or names is None:
            return False
        try:
            if self._token is not None:
                otel_context.detach(self._token)
            if exc is None:
                _instruments.get().enqueued.add(1, names.metric)
            else:
                record_exception(span, exc)
            span.end()
        except Exception:
            warn_once("queue-enqueue", "pywats_otel: queue telemetry failed", exc_info=True)
        return False


def enqueue(queue_name: str, carrier: Carrier | None, item_id: object = None) -> _Enqueue:
    """A PRODUCER span ``send <queue>`` around storing one item.

    On entry the span's W3C trace context and the enqueue time are written into ``carrier``,
    the item's ``dict[str, str]`` metadata, so the consumer can continue the trace, even in
    another process after a restart. The item counts as enqueued when the block ends without
    an exception; an exception marks the span failed and passes unchanged. Yields the span.
    """
    return _Enqueue(queue_name, carrier, item_id)


# -- process ------------------------------------------------------------------------------


class Work:
    """One item being processed: set ``outcome`` to ``"retry"`` (or ``"failed"``) to say so.

    ``outcome`` reads ``"success"`` until set; an exception out of the block makes it
    ``"failed"`` unless it was set explicitly.
    """

    __slots__ = ("_outcome", "attempt", "item_id", "queue_name", "span")

    def __init__(self, queue_name: str, item_id: object, attempt: int, span: Span) -> None:
        self.queue_name = queue_name
        self.item_id = item_id
        self.attempt = attempt
        self.span = span
        self._outcome: object = None

    @property
    def outcome(self) -> str:
        explicit = self._outcome
        if explicit is None:
            return "success"
        return normalise(explicit, _OUTCOMES) or str(explicit)

    @outcome.setter
    def outcome(self, value: Outcome | str) -> None:
        # Any value is accepted here; an unknown one is reported once and counted as failed
        # when the work ends, so that setting it can never raise into the caller.
        self._outcome = value


_current_work: ContextVar[Work | None] = ContextVar("pywats_otel_queue_work", default=None)


def current_work() -> Work | None:
    """The :class:`Work` of the innermost ``process`` block or decorated call, if any."""
    return _current_work.get()


class _Consumer:
    """A started CONSUMER span and what its end needs; shared by process() and the queues."""

    __slots__ = (
        "_instruments",
        "_names",
        "_started",
        "_token",
        "_work_token",
        "owner",
        "span",
        "work",
    )

    def __init__(
        self,
        queue_name: object,
        carrier: object,
        item_id: object,
        attempt: object,
        *,
        attach: bool = True,
    ) -> None:
        names = self._names = _names(queue_name)
        parent, enqueued_at = _read_carrier(carrier)
        number = safe_int(attempt)
        attributes: dict[str, Any] = dict(names.process_attributes)
        message_id = _message_id(item_id)
        if message_id is not None:
            attributes[semconv.MESSAGING_MESSAGE_ID] = message_id
        if number is not None:
            attributes[semconv.QUEUE_ATTEMPT] = number
        instruments = self._instruments = _instruments.get()
        if enqueued_at is not None:
            instruments.wait_duration.record(max(time.time() - enqueued_at, 0.0), names.metric)
        span = tracer().start_span(
            names.process, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        self.span = span
        self.work = Work(
            names.process_attributes[semconv.MESSAGING_DESTINATION_NAME],
            item_id,
            number if number is not None else 1,
            span,
        )
        self.owner: object = None
        self._token: Token[otel_context.Context] | None = None
        self._work_token: Token[Work | None] | None = None
        if attach:
            # Attached last: nothing after this can fail and leave the context attached.
            self._token = otel_context.attach(trace.set_span_in_context(span, parent))
            self._work_token = _current_work.set(self.work)
        self._started = time.perf_counter()

    def detach(self) -> None:
        """Take the span out of the current context, if it was put there (in this context)."""
        # A token of another context cannot be reset; the span must end all the same.
        reset_quietly(_current_work, self._work_token)
        if self._token is not None:
            otel_context.detach(self._token)  # logs, never raises, on a foreign token
        self._token = self._work_token = None

    def finish(
        self,
        exc: BaseException | None,
        explicit: object,
        *,
        detach: bool = True,
        description: str | None = None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        span, names = self.span, self._names
        if detach:
            self.detach()
        self._token = self._work_token = None
        try:
            outcome = final_value(
                (explicit,), exc, _OUTCOMES, "queue outcome", semconv.QUEUE_OUTCOMES
            )
            span.set_attribute(semconv.QUEUE_OUTCOME, outcome)
            if exc is not None:
                record_exception(span, exc)
            elif outcome == "failed":
                mark_failed(span, description or "outcome failed")
            attributes = names.outcomes[outcome]
            instruments = self._instruments
            instruments.processed.add(1, attributes)
            instruments.processing_duration.record(elapsed, attributes)
        finally:
            span.end()


class _Process:
    """The context manager (and decorator) that :func:`process` returns."""

    __slots__ = ("_attempt", "_carrier", "_consumer", "_item_id", "_queue_name", "result")

    def __init__(self, queue_name: object, carrier: object, item_id: object, attempt: object):
        self._queue_name = queue_name
        self._carrier = carrier
        self._item_id = item_id
        self._attempt = attempt
        self._consumer: _Consumer | None = None
        #: What a decorated call returned (unused: the outcome comes from the Work).
        self.result: object = None

    def __enter__(self) -> Work:
        try:
            consumer = self._consumer = _Consumer(
                self._queue_name, self._carrier, self._item_id, self._attempt
            )
        except Exception:
            warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)
            return Work(safe_str(self._queue_name) or "unknown", self._item_id, 1, INVALID_SPAN)
        return consumer.work

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        consumer = self._consumer
        if consumer is not None:
            self._consumer = None
            try:
                consumer.finish(exc, consumer.work._outcome)
            except Exception:
                warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)
        return False

    def __call__(self, function: F) -> F:
        """Decorate a function (sync or async): each call is processed as one item.

        ``carrier``, ``item_id`` and ``attempt`` given as callables are called with the
        function's arguments to get the call's values.
        """
        arguments = (self._queue_name, self._carrier, self._item_id, self._attempt)

        def scope_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Process:
            return _Process(*_per_call(arguments, args, kwargs))

        return traced_calls(function, scope_for)


def _per_call(
    arguments: tuple[object, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[object, object, object, object]:
    values: list[object] = []
    for index, given in enumerate(arguments):
        value = given
        if index and callable(given):
            try:
                value = given(*args, **kwargs)
            except Exception:
                warn_once(
                    ("queue-decorator-argument", index),
                    "pywats_otel: a callable argument of queue.process raised; value ignored",
                    exc_info=True,
                )
                value = None if index < 3 else 1
        values.append(value)
    return values[0], values[1], values[2], values[3]


def process(
    queue_name: str,
    carrier: Mapping[str, str] | Callable[..., Mapping[str, str] | None] | None,
    item_id: object = None,
    attempt: int | Callable[..., int] = 1,
) -> _Process:
    """A CONSUMER span ``process <queue>``, child of the context in ``carrier``.

    As a context manager it yields a :class:`Work`; the outcome is ``success``, ``failed``
    when an exception leaves the block (recorded on the span and re-raised unchanged), or what
    the block sets (``work.outcome = "retry"``). Records processed items, processing duration
    and the wait since the enqueue time in the carrier. A missing or corrupt carrier gives a
    new root span.

    As a decorator (sync or async functions) pass callables for the per-call values::

        @queue.process("reports", carrier=lambda item: item.metadata,
                       item_id=lambda item: item.id)
        def upload(item): ...
    """
    return _Process(queue_name, carrier, item_id, attempt)


# -- processing begun and ended by separate calls -------------------------------------------


class Processing:
    """An item's CONSUMER span begun by one call and ended by another.

    For queues whose API marks an item's state instead of wrapping its processing in a block
    (pyWATS: ``mark_processing()`` ... ``mark_completed()``). ``end()`` takes the span out of
    the context it was made current in when called there (same thread, same task); from
    elsewhere it only ends the span. Every method is idempotent and never raises.
    """

    __slots__ = ("_consumer", "_owner", "work")

    def __init__(self, consumer: _Consumer | None, work: Work, owner: object) -> None:
        self._consumer = consumer
        self._owner = owner
        self.work = work

    @property
    def ended(self) -> bool:
        return self._consumer is None

    def leave_context(self) -> None:
        """Stop being the current span here, without ending (the work goes on elsewhere)."""
        consumer = self._consumer
        if consumer is not None and _owner() == self._owner:
            try:
                consumer.detach()
            except Exception:
                warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)

    def end(
        self,
        outcome: Outcome | str | None = None,
        exc: BaseException | None = None,
        *,
        description: str | None = None,
    ) -> None:
        """End the span: ``outcome`` (else what ``work.outcome`` says; ``failed`` with ``exc``),
        the processed count and the processing duration. ``description`` is the status text
        of a failed outcome without an exception."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            explicit = outcome if outcome is not None else consumer.work._outcome
            consumer.finish(exc, explicit, detach=_owner() == self._owner, description=description)
        except Exception:
            warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)


def begin_processing(
    queue_name: str,
    carrier: Mapping[str, str] | None,
    item_id: object = None,
    attempt: int = 1,
    *,
    current: bool = True,
) -> Processing:
    """Start the CONSUMER span ``process <queue>`` of one item, child of ``carrier``'s context;
    with ``current`` it becomes the current span here until ``end()`` (or ``leave_context()``).

    The same span, attributes and metrics as :func:`process`, for processing that one call
    begins and another ends.
    """
    try:
        consumer = _Consumer(queue_name, carrier, item_id, attempt, attach=current)
    except Exception:
        warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)
        work = Work(safe_str(queue_name) or "unknown", item_id, 1, INVALID_SPAN)
        return Processing(None, work, None)
    return Processing(consumer, consumer.work, _owner())


# -- depth ----------------------------------------------------------------------------------

_depth_lock = threading.Lock()
_depth_callbacks: dict[object, tuple[str, DepthCallback]] = {}


def _observe_depth(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    with _depth_lock:
        entries = list(_depth_callbacks.values())
    totals: dict[tuple[str, str], int] = {}
    for name, callback in entries:
        try:
            counts = callback()
            for state, count in counts.items():
                number = safe_int(count)
                state_text = safe_str(state)
                if number is None or state_text is None:
                    continue
                key = (name, state_text)
                totals[key] = totals.get(key, 0) + number
        except Exception:
            warn_once(
                ("queue-depth", name),
                "pywats_otel: the depth callback of queue %s raised; its depth is left out",
                name,
                exc_info=True,
            )
    return [
        metrics.Observation(count, {semconv.QUEUE_NAME: name, semconv.QUEUE_STATE: state})
        for (name, state), count in totals.items()
    ]


def _register_depth(key: object, queue_name: object, callback: DepthCallback) -> Callable[[], None]:
    name = safe_str(queue_name) or "unknown"
    entry = (name, callback)
    with _depth_lock:
        _depth_callbacks[key] = entry
    try:
        _instruments.get()  # the gauge exists once the instruments do
    except Exception:
        warn_once("queue-depth-register", "pywats_otel: queue telemetry failed", exc_info=True)

    def unregister() -> None:
        with _depth_lock:
            if _depth_callbacks.get(key) is entry:
                del _depth_callbacks[key]

    return unregister


def observe_queue_depth(queue_name: str, callback: DepthCallback) -> Callable[[], None]:
    """Report ``pywats.queue.depth`` of ``queue_name`` from ``callback() -> {state: count}``.

    The callback runs at each metric collection (a scrape of /metrics, an OTLP export); if it
    raises, that collection leaves the queue out and a warning is logged. Registering the same
    name again replaces the callback. Returns a function that unregisters it.
    """
    return _register_depth(("name", queue_name), queue_name, callback)


# -- ready-made queues --------------------------------------------------------------------


class _Envelope(Generic[T]):
    __slots__ = ("carrier", "item", "item_id")

    def __init__(self, item: T, carrier: dict[str, str], item_id: object) -> None:
        self.item = item
        self.carrier = carrier
        self.item_id = item_id


def _owner() -> tuple[int, int | None]:
    """Who called get(): the thread and, inside an event loop, the task."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return threading.get_ident(), (id(task) if task is not None else None)


class _Tracking:
    """The works a queue's get() started, ended by task_done() or the owner's next get()."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._open: deque[_Consumer] = deque()
        self._lock = threading.Lock()

    def in_progress(self) -> int:
        return len(self._open)

    def begin(self, envelope: _Envelope[Any]) -> None:
        try:
            owner = _owner()
            self._end_owned(owner, None)
            consumer = _Consumer(self.name, envelope.carrier, envelope.item_id, 1)
            consumer.owner = owner
            with self._lock:
                self._open.append(consumer)
        except Exception:
            warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)

    def end(self, outcome: object) -> None:
        try:
            exc = sys.exc_info()[1] if outcome is None else None
            if not self._end_owned(_owner(), outcome, exc):
                with self._lock:
                    consumer = self._open.popleft() if self._open else None
                if consumer is not None:
                    # Started in another thread or task: its context cannot be detached here.
                    explicit = outcome if outcome is not None else consumer.work._outcome
                    consumer.finish(exc, explicit, detach=False)
        except Exception:
            warn_once("queue-process", "pywats_otel: queue telemetry failed", exc_info=True)

    def _end_owned(self, owner: object, outcome: object, exc: BaseException | None = None) -> bool:
        with self._lock:
            for index in range(len(self._open) - 1, -1, -1):
                consumer = self._open[index]
                if consumer.owner == owner:
                    del self._open[index]
                    break
            else:
                return False
        consumer.finish(exc, outcome if outcome is not None else consumer.work._outcome)
        return True


class _TracedQueueBase(Generic[T]):
    """What the sync and async queues share: the name, the tracking of works, the depth."""

    _queue: _stdlib_queue.Queue[_Envelope[T]] | asyncio.Queue[_Envelope[T]]

    def __init__(self, name: str) -> None:
        self.name = name
        self._tracking = _Tracking(name)
        self._unregister = _register_depth(("queue", id(self)), name, _depth_of(self))
        weakref.finalize(self, self._unregister)

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    def _depth(self) -> dict[str, int]:
        return {"pending": self._queue.qsize(), "in_progress": self._tracking.in_progress()}

    def _received(self, envelope: _Envelope[T]) -> T:
        self._tracking.begin(envelope)
        return envelope.item

    def task_done(self, outcome: Outcome | None = None) -> None:
        self._tracking.end(outcome)
        self._queue.task_done()

    def qsize(self) -> int:
        return self._queue.qsize()

    def empty(self) -> bool:
        return self._queue.empty()

    def full(self) -> bool:
        return self._queue.full()


class TracedQueue(_TracedQueueBase[T]):
    """A ``queue.Queue`` whose items carry their trace: ``put`` is a ``send`` span, ``get``
    starts the ``process`` span (current until ``task_done()`` or the next ``get`` in the same
    thread), and the queue reports its depth (``pending``, ``in_progress``).

    ``task_done(outcome=None)`` ends the work as ``success``, or ``failed`` when called while
    an exception is being handled (in an ``except`` or ``finally`` block), unless ``outcome``
    says otherwise.
    """

    _queue: _stdlib_queue.Queue[_Envelope[T]]

    def __init__(self, maxsize: int = 0, *, name: str = "queue") -> None:
        self._queue = _stdlib_queue.Queue(maxsize)
        super().__init__(name)

    def put(
        self, item: T, block: bool = True, timeout: float | None = None, *, item_id: object = None
    ) -> None:
        carrier: dict[str, str] = {}
        with _Enqueue(self.name, carrier, item_id):
            self._queue.put(_Envelope(item, carrier, item_id), block, timeout)

    def put_nowait(self, item: T, *, item_id: object = None) -> None:
        self.put(item, block=False, item_id=item_id)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        return self._received(self._queue.get(block, timeout))

    def get_nowait(self) -> T:
        return self.get(block=False)

    def join(self) -> None:
        self._queue.join()


class AsyncTracedQueue(_TracedQueueBase[T]):
    """An ``asyncio.Queue`` whose items carry their trace, as :class:`TracedQueue` does.

    Await ``get()`` directly in the consuming task (not through ``wait_for``), so the
    ``process`` span becomes that task's current span.
    """

    _queue: asyncio.Queue[_Envelope[T]]

    def __init__(self, maxsize: int = 0, *, name: str = "queue") -> None:
        self._queue = asyncio.Queue(maxsize)
        super().__init__(name)

    async def put(self, item: T, *, item_id: object = None) -> None:
        carrier: dict[str, str] = {}
        with _Enqueue(self.name, carrier, item_id):
            await self._queue.put(_Envelope(item, carrier, item_id))

    def put_nowait(self, item: T, *, item_id: object = None) -> None:
        carrier: dict[str, str] = {}
        with _Enqueue(self.name, carrier, item_id):
            self._queue.put_nowait(_Envelope(item, carrier, item_id))

    async def get(self) -> T:
        return self._received(await self._queue.get())

    def get_nowait(self) -> T:
        return self._received(self._queue.get_nowait())

    async def join(self) -> None:
        await self._queue.join()


def _depth_of(owner: _TracedQueueBase[Any]) -> DepthCallback:
    """A depth callback that does not keep its queue alive."""
    reference = weakref.ref(owner)

    def depth() -> Mapping[str, int]:
        queue = reference()
        return queue._depth() if queue is not None else {}

    return depth
