"""Telemetry across ``os.fork()`` (and multiprocessing's fork start method).

The SDK (1.45) re-creates its batch processors' queue, locks and worker in a forked child, but
leaves the rest as it was in the parent: the resource's ``process.pid`` (so a child's spans
carried the parent's pid and backends merged the children into the parent), the metric
aggregations (a child's counters started from the parent's values, counted twice when summed),
the HTTP exporters' kept-alive connections (shared with the parent), and a gRPC or HTTP export
that was in flight when another thread forked: the child inherits its locks held, and its first
export hangs for ever (gRPC's core may even abort the child). ``install()`` registers at-fork
handlers (``os.register_at_fork``):

- before the fork, wait (at most ``FORK_WAIT_S`` in all) for the export calls in flight to
  end, by taking the gate each of pywats_otel's exporter wrappers holds around a call, so that
  no exporter is forked in the middle of one; the parent opens the gates right after;
- in the child: ``process.pid`` and ``process.parent_pid`` on the resource of every signal;
  fresh metric aggregations (the child counts from zero) and export counters; new HTTP
  connection pools; a gRPC exporter whose call could not be waited for turned off in the child
  (its data counted as failed, the reason in ``status()``);
  the endpoint's port left to the parent; the health checks' and system metrics' state made
  the child's; and, in a multiprocessing child (which ends with ``os._exit()``, skipping
  ``atexit``), a flush and shutdown when the child process ends.

What the parent had queued stays the parent's: the SDK empties the child's copy of the queue,
so every item is sent once. ``GRPC_ENABLE_FORK_SUPPORT`` is best left unset: with it gRPC's
own fork handlers hung inside ``os.fork()`` in experiments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pywats_otel import semconv

if TYPE_CHECKING:
    from pywats_otel._pipeline.telemetry import Telemetry

__all__ = ["FORK_WAIT_S", "install"]

_logger = logging.getLogger("pywats_otel")

#: Seconds a fork waits at most, in all, for the exports in flight to end.
FORK_WAIT_S = 2.0

_telemetry: Telemetry | None = None
_registered = False
_held: list[Any] = []
#: Exporters (the SDK's, inside pywats_otel's counting wrappers) whose export was still in
#: flight when the fork went ahead: the child gives them a new channel.
_busy: list[Any] = []


def install(telemetry: Telemetry) -> Callable[[], None]:
    """Handle forks of this process for ``telemetry`` until the returned undo runs."""
    global _telemetry, _registered  # noqa: PLW0603 - at-fork handlers cannot be unregistered
    _telemetry = telemetry
    if not _registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
        )
        _registered = True

    def undo() -> None:
        global _telemetry  # noqa: PLW0603 - see install
        if _telemetry is telemetry:
            _telemetry = None

    return undo


def _gated(telemetry: Telemetry) -> list[Any]:
    """pywats_otel's counting wrappers around every exporter (each with its fork gate)."""
    return [exporter for exporter in _exporters(telemetry) if hasattr(exporter, "fork_gate")]


def _before() -> None:
    _held.clear()
    _busy.clear()
    telemetry = _telemetry
    if telemetry is None or telemetry.is_shut_down:
        return
    try:
        # The gate is held around each single export call: waiting for it waits for one call
        # at most (the SDK's worker keeps its own export lock while its queue stays full).
        deadline = time.monotonic() + FORK_WAIT_S
        for exporter in _gated(telemetry):
            if exporter.fork_gate.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                _held.append(exporter.fork_gate)
            else:
                _busy.append(exporter)
    except Exception:  # noqa: BLE001, S110 - a fork must never fail because of telemetry
        pass


def _after_in_parent() -> None:
    for lock in _held:
        with contextlib.suppress(RuntimeError):  # released already
            lock.release()
    _held.clear()
    _busy.clear()


def _after_in_child() -> None:
    telemetry = _telemetry
    busy = list(_busy)
    _held.clear()
    _busy.clear()
    if telemetry is None or telemetry.is_shut_down:
        return
    steps: list[tuple[str, Callable[[], None]]] = [
        ("new locks", lambda: _new_locks(telemetry)),
        ("the child's resource", lambda: _own_resource(telemetry)),
        ("fresh metrics", lambda: _fresh_metrics(telemetry)),
        ("fresh counters", lambda: _fresh_counters(telemetry)),
        ("new connections", lambda: _new_connections(telemetry, busy)),
        ("leaving the port", lambda: _leave_the_port(telemetry)),
        ("health and system state", lambda: _own_health_and_system(telemetry)),
        ("flush at exit", lambda: _flush_at_child_exit(telemetry)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:  # the child goes on; telemetry does what it can
            with contextlib.suppress(Exception):  # not even a log line may break the child
                _logger.warning("pywats_otel: after fork, %s failed", name, exc_info=True)


# -- the child's steps ----------------------------------------------------------------------


def _new_locks(telemetry: Telemetry) -> None:
    """Locks another thread of the parent may have held at the fork."""
    from pywats_otel._base import ratelimit
    from pywats_otel._pipeline import cardinality

    telemetry._lock = threading.Lock()
    ratelimit._lock = threading.Lock()
    cardinality._lock = threading.Lock()
    provider = telemetry._parts.meter_provider
    for reader in getattr(provider, "_all_metric_readers", ()):
        if hasattr(reader, "_export_lock"):
            # Held by the parent's fork (or its ticker); the SDK restarts only the ticker.
            reader._export_lock = threading.Lock()


def _own_resource(telemetry: Telemetry) -> None:
    from opentelemetry.sdk.resources import Resource

    own = Resource({semconv.PROCESS_PID: os.getpid(), semconv.PROCESS_PARENT_PID: os.getppid()})
    parts = telemetry._parts
    for provider in (parts.tracer_provider, parts.meter_provider, parts.logger_provider):
        update = getattr(provider, "_update_resource", None)
        if update is not None:
            update(own)
    if telemetry.resource is not None:
        telemetry.resource = telemetry.resource.merge(own)


def _fresh_metrics(telemetry: Telemetry) -> None:
    """The child's metrics count from zero: the parent's aggregations are the parent's."""
    from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage

    from pywats_otel._pipeline import cardinality

    provider = telemetry._parts.meter_provider
    consumer = getattr(provider, "_measurement_consumer", None)
    if consumer is None:
        return
    consumer._lock = threading.Lock()
    consumer._reader_storages = {
        reader: MetricReaderStorage(
            provider._sdk_config,  # type: ignore[union-attr]
            reader._instrument_class_temporality,
            reader._instrument_class_aggregation,
        )
        for reader in consumer._reader_storages
    }
    cardinality.reset()


def _fresh_counters(telemetry: Telemetry) -> None:
    for stats in telemetry.export_stats():
        stats.reset_after_fork()


def _new_connections(telemetry: Telemetry, busy: list[Any]) -> None:
    """New HTTP connection pools (the parent's kept-alive connections are the parent's), new
    fork gates, and a gRPC exporter that was in the middle of a call at the fork turned off in
    the child: gRPC's core cannot be used in a child forked during a call (it aborted the
    child in experiments, with a new channel too)."""
    for wrapper in _exporters(telemetry):
        if hasattr(wrapper, "fork_gate"):
            wrapper.fork_gate = threading.Lock()
        exporter = getattr(wrapper, "delegate", wrapper)
        client = getattr(exporter, "_client", None)
        session = getattr(getattr(client, "_transport", None), "_session", None)
        if session is not None and hasattr(session, "adapters"):
            _new_pools(session)
        if wrapper in busy and hasattr(exporter, "_channel"):
            wrapper.delegate = _Unusable(exporter)
            wrapper.stats.note_error(
                "off in this forked child: the fork came during a gRPC export, after which "
                "gRPC cannot be used in the child"
            )


class _Unusable:
    """Stands in for a gRPC exporter that cannot be used in this forked child."""

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter

    def export(self, *args: Any, **kwargs: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.FAILURE

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass  # closing the channel would touch gRPC too

    def force_flush(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exporter, name)


def _exporters(telemetry: Telemetry) -> list[Any]:
    parts = telemetry._parts
    found = [
        getattr(getattr(processor, "_batch_processor", None), "_exporter", None)
        for processor in parts.batch_processors
    ]
    found += [
        getattr(reader, "_exporter", None)
        for reader in getattr(parts.meter_provider, "_all_metric_readers", ())
    ]
    return [exporter for exporter in found if exporter is not None]


def _new_pools(session: Any) -> None:
    from requests.adapters import HTTPAdapter

    for prefix, adapter in list(session.adapters.items()):
        if isinstance(adapter, HTTPAdapter):
            # The old pools are dropped, not closed: closing could end the parent's connection.
            session.mount(
                prefix,
                HTTPAdapter(
                    pool_connections=adapter._pool_connections,
                    pool_maxsize=adapter._pool_maxsize,
                    max_retries=adapter.max_retries,
                    pool_block=adapter._pool_block,
                ),
            )


def _leave_the_port(telemetry: Telemetry) -> None:
    endpoint = telemetry._parts.endpoint
    if endpoint is not None:
        endpoint.forget_after_fork()


def _own_health_and_system(telemetry: Telemetry) -> None:
    from pywats_otel import health

    health.default_registry().after_fork()
    system = sys.modules.get("pywats_otel.instrumentation.system")
    if system is not None:
        system.after_fork()


def _flush_at_child_exit(telemetry: Telemetry) -> None:
    """A multiprocessing child ends with os._exit(), which skips atexit: flush at its end."""
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    # Runs after multiprocessing has cleared the finalizers it inherited from the parent.
    util.register_after_fork(_Token.instance, _register_finalizer)


class _Token:
    """Something multiprocessing's after-fork registry can hold a weak reference to."""

    instance: _Token


_Token.instance = _Token()


def _register_finalizer(token: object) -> None:
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _shutdown_child, exitpriority=0)


def _shutdown_child() -> None:
    telemetry = _telemetry
    if telemetry is not None and not telemetry.is_shut_down:
        telemetry.shutdown(timeout_s=telemetry.settings.shutdown_timeout_s)
