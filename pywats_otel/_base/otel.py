"""The tracer and instruments of pywats_otel's own instrumentation, following the globals.

Module-level ``trace.get_tracer()`` proxies bind to the first provider they see and keep it;
these caches instead rebuild when the global provider changes (after ``init_telemetry()``, or a
reset in tests), at the cost of one identity check per call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from opentelemetry import metrics, trace

from pywats_otel._version import __version__
from pywats_otel.semconv import METRICS_BY_NAME, SCOPE_NAME

__all__ = ["PerMeterProvider", "create_instrument", "tracer"]

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

    Instruments are built with :func:`create_instrument`, from semconv's declarations.
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


def create_instrument(
    meter: metrics.Meter,
    name: str,
    callback: Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]] | None = None,
) -> Any:
    """The instrument ``name`` as ``semconv.METRICS`` declares it: kind, unit, description and,
    for a histogram, its bucket boundaries (as advice, so that a MeterProvider of the user's
    own gets them too). With ``callback`` a counter, gauge or up-down counter is observable."""
    info = METRICS_BY_NAME[name]
    described: dict[str, Any] = {"unit": info.unit, "description": info.description}
    if info.kind == "histogram":
        if callback is not None:
            raise ValueError(f"histogram {name} cannot be observable")
        return meter.create_histogram(
            name, explicit_bucket_boundaries_advisory=info.buckets, **described
        )
    if callback is not None:
        observable = {
            "counter": meter.create_observable_counter,
            "gauge": meter.create_observable_gauge,
            "updowncounter": meter.create_observable_up_down_counter,
        }[info.kind]
        return observable(name, callbacks=[callback], **described)
    synchronous = {
        "counter": meter.create_counter,
        "gauge": meter.create_gauge,
        "updowncounter": meter.create_up_down_counter,
    }[info.kind]
    return synchronous(name, **described)
