"""pyWATS's queues: a PRODUCER span per item queued, a CONSUMER span per item processed, the
queue depth; the trace context travels in the item's metadata (persisted by PersistentQueue).

pyWATS marks an item's state instead of wrapping its processing in a block, so the CONSUMER
span begins at ``QueueItem.mark_processing()`` (current from there on, so that the upload is
its child) and ends at ``mark_completed()``, ``mark_failed()``, ``reset_to_pending()`` or
``mark_suspended()``, its outcome read from the item. A span that a loop never ends is ended
at the item's next ``mark_processing()``, at the same loop's next item, or when the item is
collected. The service's own paths (``AsyncConverterPool``, ``AsyncPendingQueue``) get the same
spans; the pending queue keeps the context of a report file in ``<stem>.trace.json`` beside it,
because the report file itself is posted as it is.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode

from pywats_otel import queue, semconv
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.values import safe_int, safe_str
from pywats_otel.instrumentation.pywats._patches import Patches

__all__ = ["ProducedBy", "instrument_client_queues", "instrument_queues"]

# Attributes pywats_otel keeps on a QueueItem (a dataclass: extra attributes are not fields,
# so pyWATS never serialises, compares or prints them).
_QUEUE_NAME = "_pywats_otel_queue"
_PROCESSING = "_pywats_otel_processing"

# Inside one add() (PersistentQueue.add calls MemoryQueue.add, AsyncQueueAdapter.put_nowait
# calls the queue's add): the inner calls make no span of their own.
_in_add: ContextVar[bool] = ContextVar("pywats_otel_pywats_in_add", default=False)
# The Processing this loop made current last: ended or left at the loop's next item.
_attached: ContextVar[_ItemProcessing | None] = ContextVar(
    "pywats_otel_pywats_attached", default=None
)
# Inside a queue's __init__ (PersistentQueue's calls MemoryQueue's): the outermost one, once it
# has finished, registers the queue's depth under the queue's final name.
_in_init: ContextVar[bool] = ContextVar("pywats_otel_pywats_in_init", default=False)
# Inside AsyncConverterPool.run(): items marked processing there go on in tasks of their own.
_in_pool: ContextVar[bool] = ContextVar("pywats_otel_pywats_in_pool", default=False)

# What a queue's items end with, by pyWATS's QueueItemStatus values.
_OUTCOMES = {"completed": "success", "failed": "failed", "pending": "retry", "suspended": "retry"}


class ProducedBy:
    """The span context that produced an object (a converter's report): a later ``add()`` of
    that object outside any span continues its trace, so a file's conversion and its upload
    are one trace. Keyed by identity, forgotten when the object is collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[int, tuple[weakref.ref[Any], SpanContext]] = {}

    def remember(self, value: object, span_context: SpanContext) -> None:
        if value is None or not span_context.is_valid:
            return
        key = id(value)

        def forget(_: object, key: int = key) -> None:
            with self._lock:
                entry = self._contexts.get(key)
                if entry is not None and entry[0]() is None:
                    del self._contexts[key]

        try:
            reference = weakref.ref(value, forget)
        except TypeError:  # not weakly referable: not remembered
            return
        with self._lock:
            self._contexts[key] = (reference, span_context)

    def context_of(self, value: object) -> SpanContext | None:
        with self._lock:
            entry = self._contexts.get(id(value))
        if entry is None or entry[0]() is not value:
            return None
        return entry[1]


def queue_name(owner: object) -> str:
    """The ``pywats.queue.name`` of a pyWATS queue: a PersistentQueue's folder name, else
    ``memory`` (an AsyncQueueAdapter is named after the queue it adapts)."""
    inner = getattr(owner, "_queue", None)
    if hasattr(inner, "get_next"):  # an adapter's queue (a MemoryQueue's _queue is its heap)
        owner = inner
    folder = getattr(owner, "queue_dir", None)
    if folder is not None:
        return Path(str(folder)).name or "persistent"
    return "memory"


# -- depth ----------------------------------------------------------------------------------


class _Depths:
    """One ``pywats.queue.depth`` callback per queue name, summing its live queues."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, weakref.WeakSet[Any]] = {}
        self._unregister: list[Callable[[], None]] = []

    def add(self, name: str, owner: object, read: Callable[[Any], Mapping[str, int]]) -> None:
        with self._lock:
            members = self._queues.get(name)
            if members is None:
                members = self._queues[name] = weakref.WeakSet()
                self._unregister.append(
                    queue.observe_queue_depth(name, lambda: self._read(name, read))
                )
            members.add(owner)

    def _read(self, name: str, read: Callable[[Any], Mapping[str, int]]) -> dict[str, int]:
        with self._lock:
            members = list(self._queues.get(name, ()))
        totals: dict[str, int] = {}
        for member in members:
            for state, count in read(member).items():
                totals[state] = totals.get(state, 0) + count
        return totals

    def clear(self) -> None:
        with self._lock:
            undos, self._unregister = self._unregister, []
            self._queues.clear()
        for undo in undos:
            undo()


def _depth_on_init(depths: _Depths, read: Callable[[Any], Mapping[str, int]]) -> Callable[..., Any]:
    """An ``__init__`` wrapper that registers the new queue's depth once it is built."""

    def init(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _in_init.get():
            return wrapped(*args, **kwargs)
        token = _in_init.set(True)
        try:
            result = wrapped(*args, **kwargs)
        finally:
            _in_init.reset(token)
        try:
            folder = getattr(instance, "reports_dir", None)
            name = Path(str(folder)).name or "pending" if folder else queue_name(instance)
            depths.add(name, instance, read)
        except Exception:  # noqa: BLE001 - the queue works without its depth metric
            warn_once("pywats-depth", "pywats_otel: pyWATS queue depth failed", exc_info=True)
        return result

    return init


def _memory_depth(owner: Any) -> dict[str, int]:
    from pywats.queue.memory_queue import QueueItemStatus

    return {status.value: int(owner.count_by_status(status)) for status in QueueItemStatus}


def _folder_depth(owner: Any) -> dict[str, int]:
    folder = Path(owner.reports_dir)
    return {
        # pending is what pyWATS itself reports as the pending queue's size (queue_size).
        "pending": int(owner.queue_size),
        "processing": sum(1 for _ in folder.glob("*.processing")),
        "failed": sum(1 for _ in folder.glob("*.error")),
    }


# -- the consumer side --------------------------------------------------------------------


class _ItemProcessing:
    """The CONSUMER span of one QueueItem, ended from the item's state."""

    __slots__ = ("claimed", "finalizer", "item", "processing")

    def __init__(self, processing: queue.Processing, item: object) -> None:
        self.processing = processing
        self.item = weakref.ref(item)
        #: Ended by AsyncConverterPool._process_with_limit, not by the loop's next item.
        self.claimed = False
        # Ended when the item goes, whatever the loop did; the finalizer holds the state only.
        self.finalizer = weakref.finalize(item, self.end_from_status)

    def end_from_status(self, description: str | None = None) -> None:
        self.finalizer.detach()
        item = self.item()
        status = _status_of(item) if item is not None else None
        if status is None:
            self.processing.end("failed", description=description or "the item was dropped")
            return
        outcome = _OUTCOMES.get(status)
        if outcome is None:
            # Still PROCESSING: its loop moved on without saying how the item ended.
            self.processing.end(
                "failed", description=description or "the item was never marked done"
            )
            return
        self.processing.end(outcome, description=description)


def _status_of(item: object) -> str | None:
    status = getattr(item, "status", None)
    value = getattr(status, "value", status)
    return value if isinstance(value, str) else None


def _begin(item: Any, *, current: bool = True) -> _ItemProcessing | None:
    previous: _ItemProcessing | None = getattr(item, _PROCESSING, None)
    if previous is not None:
        # The same item taken again before it was marked: that attempt is over.
        previous.end_from_status()
    attached = _attached.get()
    if attached is not None and attached is not previous:
        if attached.claimed or _in_pool.get():
            attached.processing.leave_context()
        else:
            attached.end_from_status()
    metadata = getattr(item, "metadata", None)
    carrier = metadata if isinstance(metadata, Mapping) else None
    processing = queue.begin_processing(
        getattr(item, _QUEUE_NAME, None) or "memory",
        carrier,
        item_id=safe_str(getattr(item, "id", None)),
        attempt=safe_int(getattr(item, "attempts", None)) or 1,
        current=current,
    )
    state = _ItemProcessing(processing, item)
    setattr(item, _PROCESSING, state)
    if current:
        _attached.set(state)
    return state


def _end(item: Any, description: str | None = None) -> None:
    state: _ItemProcessing | None = getattr(item, _PROCESSING, None)
    if state is None:
        return
    state.end_from_status(description)
    if _attached.get() is state:
        _attached.set(None)


def _mark_processing(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        _begin(instance)
    except Exception:  # noqa: BLE001 - the item is processed untraced
        warn_once("pywats-queue", "pywats_otel: tracing a pyWATS queue failed", exc_info=True)
    return result


def _mark_done(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        description = None
        if wrapped.__name__ == "mark_failed":
            error = args[0] if args else kwargs.get("error")
            description = f"marked failed: {error}" if error else "marked failed"
        _end(instance, description)
    except Exception:  # noqa: BLE001 - the item is processed untraced
        warn_once("pywats-queue", "pywats_otel: tracing a pyWATS queue failed", exc_info=True)
    return result


# -- the producer side --------------------------------------------------------------------


@contextmanager
def _produced_context(produced: ProducedBy, data: object) -> Iterator[None]:
    """The producer's span continues the trace that made ``data``, outside any other span."""
    token = None
    try:
        if not trace.get_current_span().get_span_context().is_valid:
            made_by = produced.context_of(data)
            if made_by is not None:
                token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(made_by)))
    except Exception:  # noqa: BLE001 - a new trace then
        token = None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


def _bind_add(
    data: object,
    item_id: object = None,
    priority: object = 5,
    max_attempts: object = None,
    metadata: object = None,
) -> tuple[object, object, object, object, object]:
    return data, item_id, priority, max_attempts, metadata


def _bind_put_nowait(
    data: object,
    priority: object = 5,
    item_id: object = None,
    max_attempts: object = None,
    metadata: object = None,
) -> tuple[object, object, object, object, object]:
    return data, item_id, priority, max_attempts, metadata


def _producer(
    produced: ProducedBy, bind: Callable[..., tuple[object, object, object, object, object]]
) -> Callable[..., Any]:
    """The wrapper of an add(): the ``send`` span, the carrier written into ``metadata``."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _in_add.get():
            return wrapped(*args, **kwargs)
        try:
            data, item_id, priority, max_attempts, metadata = bind(*args, **kwargs)
            name = queue_name(instance)
        except TypeError:  # pyWATS's own error for a wrong call, raised by pyWATS itself
            return wrapped(*args, **kwargs)
        # MemoryQueue keeps a non-empty metadata dict as it is and replaces an empty one:
        # the carrier goes into the caller's dict, or into a new one in place of an empty one.
        carrier: dict[str, Any] = metadata if isinstance(metadata, dict) and metadata else {}
        token = _in_add.set(True)
        try:
            with _produced_context(produced, data), queue.enqueue(name, carrier) as span:
                item = wrapped(
                    data,
                    item_id=item_id,
                    priority=priority,
                    max_attempts=max_attempts,
                    metadata=carrier if carrier else metadata,
                )
                _tag(item, name, span)
            return item
        finally:
            _in_add.reset(token)

    return wrapper


def _tag(item: object, name: str, span: trace.Span) -> None:
    try:
        setattr(item, _QUEUE_NAME, name)
        item_id = safe_str(getattr(item, "id", None))
        if item_id is not None and span.is_recording():
            span.set_attribute(semconv.MESSAGING_MESSAGE_ID, item_id)
    except Exception:  # noqa: BLE001 - an item without our attributes is traced as "memory"
        warn_once("pywats-queue", "pywats_otel: tracing a pyWATS queue failed", exc_info=True)


def _get_next(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    item = wrapped(*args, **kwargs)
    if item is not None:
        try:
            # Items loaded from disk after a restart were never add()-ed in this process.
            setattr(item, _QUEUE_NAME, queue_name(instance))
        except Exception:  # noqa: BLE001 - traced as "memory" then
            warn_once("pywats-queue", "pywats_otel: tracing a pyWATS queue failed", exc_info=True)
    return item


def instrument_queues(patches: Patches, produced: ProducedBy, depths: _Depths) -> None:
    """``pywats.queue``: MemoryQueue, QueueItem, AsyncQueueAdapter."""

    def memory_queue(module: ModuleType) -> None:
        for method in ("mark_processing",):
            patches.wrap(module.QueueItem, method, _mark_processing)
        for method in ("mark_completed", "mark_failed", "reset_to_pending", "mark_suspended"):
            patches.wrap(module.QueueItem, method, _mark_done)
        patches.wrap(module.MemoryQueue, "add", _producer(produced, _bind_add))
        patches.wrap(module.MemoryQueue, "get_next", _get_next)
        patches.wrap(module.MemoryQueue, "__init__", _depth_on_init(depths, _memory_depth))

    def async_adapter(module: ModuleType) -> None:
        patches.wrap(module.AsyncQueueAdapter, "put_nowait", _producer(produced, _bind_put_nowait))

    patches.when_imported("pywats.queue.memory_queue", memory_queue)
    patches.when_imported("pywats.queue.async_adapter", async_adapter)
    patches.on_undo(depths.clear)


# -- pywats_client: PersistentQueue, AsyncConverterPool, AsyncPendingQueue -----------------


def _process_with_limit(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[Any]:
    queue_item = args[1] if len(args) > 1 else kwargs.get("queue_item")

    async def run() -> Any:
        state: _ItemProcessing | None = None
        token = None
        try:
            state = getattr(queue_item, _PROCESSING, None)
            if state is None or state.processing.ended:
                # Marked processing before pywats_otel was on: the span starts here.
                state = _begin(queue_item, current=False)
            if state is not None:
                state.claimed = True
                span = state.processing.work.span
                if trace.get_current_span() is not span:
                    token = otel_context.attach(trace.set_span_in_context(span))
        except Exception:  # noqa: BLE001 - the item is processed untraced
            warn_once(
                "pywats-pool", "pywats_otel: tracing the converter pool failed", exc_info=True
            )
        try:
            return await wrapped(*args, **kwargs)
        finally:
            if token is not None:
                otel_context.detach(token)
            if state is not None and not state.processing.ended:
                state.end_from_status()

    return run()


def _pool_run(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[Any]:
    async def run() -> Any:
        token = _in_pool.set(True)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _in_pool.reset(token)

    return run()


def _sidecar(path: Path) -> Path:
    return path.with_name(f"{path.name.split('.', 1)[0]}.trace.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _submit_report(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[Any]:
    file_path = args[0] if args else kwargs.get("file_path")

    async def run() -> Any:
        processing = None
        stem = ""
        sidecar: Path | None = None
        try:
            path = Path(str(file_path))
            if not path.exists():  # pyWATS returns at once: nothing to trace
                return await wrapped(*args, **kwargs)
            stem = path.name.split(".", 1)[0]
            sidecar = _sidecar(path)
            carrier = _read_json(sidecar)
            info = _read_json(path.with_name(f"{stem}.error.info")) or {}
            processing = queue.begin_processing(
                Path(str(instance.reports_dir)).name or "pending",
                carrier,
                item_id=stem,
                attempt=safe_int(info.get("attempts")) or 1,
            )
            if carrier is None:
                # The first attempt: its retries (pyWATS moves .error back to .queued) are
                # children of it, in the same trace.
                written: dict[str, str] = {}
                propagate.inject(written)
                sidecar.write_text(json.dumps(written), encoding="utf-8")
        except Exception:  # noqa: BLE001 - the report is submitted untraced
            warn_once(
                "pywats-pending", "pywats_otel: tracing the pending queue failed", exc_info=True
            )
        try:
            return await wrapped(*args, **kwargs)
        finally:
            if processing is not None:
                _end_submission(processing, Path(str(file_path)).parent, stem, sidecar)

    return run()


def _end_submission(
    processing: queue.Processing, folder: Path, stem: str, sidecar: Path | None
) -> None:
    try:
        if (folder / f"{stem}.completed").exists():
            if sidecar is not None:
                sidecar.unlink(missing_ok=True)
            processing.end("success")
            return
        if (folder / f"{stem}.error").exists():
            info = _read_json(folder / f"{stem}.error.info") or {}
            span = processing.work.span
            if span.is_recording():
                span.set_attribute(semconv.ERROR_TYPE, "_OTHER")
                span.set_status(Status(StatusCode.ERROR, safe_str(info.get("error")) or "error"))
            # pyWATS moves .error files back to .queued later.
            processing.end("retry")
            return
        processing.end("failed", description="the report file is gone")
    except Exception:  # noqa: BLE001 - never raises into pyWATS
        warn_once("pywats-pending", "pywats_otel: tracing the pending queue failed", exc_info=True)
        processing.end("failed")


def instrument_client_queues(patches: Patches, produced: ProducedBy, depths: _Depths) -> None:
    """``pywats_client``: PersistentQueue, the converter pool, the pending-report queue."""

    def persistent_queue(module: ModuleType) -> None:
        patches.wrap(module.PersistentQueue, "add", _producer(produced, _bind_add))
        patches.wrap(module.PersistentQueue, "__init__", _depth_on_init(depths, _memory_depth))

    def converter_pool(module: ModuleType) -> None:
        patches.wrap(module.AsyncConverterPool, "_process_with_limit", _process_with_limit)
        patches.wrap(module.AsyncConverterPool, "run", _pool_run)

    def pending_queue(module: ModuleType) -> None:
        patches.wrap(module.AsyncPendingQueue, "_submit_report", _submit_report)
        patches.wrap(module.AsyncPendingQueue, "__init__", _depth_on_init(depths, _folder_depth))

    patches.when_imported("pywats_client.queue.persistent_queue", persistent_queue)
    patches.when_imported("pywats_client.service.async_converter_pool", converter_pool)
    patches.when_imported("pywats_client.service.async_pending_queue", pending_queue)


def new_depths() -> _Depths:
    return _Depths()
