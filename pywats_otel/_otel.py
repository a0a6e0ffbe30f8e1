"""The tracer and instruments of pywats_otel's own instrumentation, following the globals.

Module-level ``trace.get_tracer()`` proxies bind to the first provider they see and keep it;
these caches instead rebuild when the global provider changes (after ``init_telemetry()``, or a
reset in tests), at the cost of one identity check per call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from opentelemetry import metrics, trace

from pywats_otel._version import __version__
from pywats_otel.semconv import SCOPE_NAME

__all__ = ["PerMeterProvider", "tracer"]

T = TypeVar("T")

_tracer_lock = threading.Lock()
_tracer_provider: object = None
_tracer: trace.Tracer | None = None


def tracer() -> trace.Tracer:
    """pywats_otel's tracer from the current global TracerProvider."""
    global _tracer_provider, _tracer  # noqa: PLW0603 - a one-entry cache
    provider = trace.get_tracer_provider()
    cached = _tracer
    if provider is _tracer_provider and cached is not None:
        return cached
    with _tracer_lock:
        _tracer = provider.get_tracer(SCOPE_NAME, __version__)
        _tracer_provider = provider
        return _tracer


class PerMeterProvider(Generic[T]):
    """Builds ``T`` (a set of instruments) from our meter; builds it again for a new provider.

    Usage::

        _instruments = PerMeterProvider(lambda meter: QueueInstruments(meter))
        _instruments.get().enqueued.add(1, attributes)
    """

    def __init__(self, build: Callable[[metrics.Meter], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._provider: object = None
        self._value: T | None = None

    def get(self) -> T:
        provider = metrics.get_meter_provider()
        value = self._value
        if provider is self._provider and value is not None:
            return value
        with self._lock:
            built = self._build(provider.get_meter(SCOPE_NAME, __version__))
            self._value, self._provider = built, provider
            return built
