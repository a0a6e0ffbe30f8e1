"""Helpers of pywats_otel's own instrumentation: instruments built from semconv's table,
warnings logged at most once a minute per cause, and odd values made safe for attributes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import metrics

from pywats_otel.semconv import METRICS_BY_NAME

__all__ = [
    "WARNING_INTERVAL_S",
    "counter",
    "histogram",
    "observable_gauge",
    "safe_int",
    "safe_str",
    "warn_once",
]

_logger = logging.getLogger("pywats_otel")

WARNING_INTERVAL_S = 60.0
# Keys are few (one per cause and queue or converter name), but a caller passing unbounded
# names must not grow this without end.
_MAX_KEYS = 1000
_warned_lock = threading.Lock()
_warned: dict[object, float] = {}


def warn_once(key: object, message: str, *args: object, exc_info: bool = False) -> None:
    """Log a warning for ``key`` at most once per WARNING_INTERVAL_S; never raises."""
    try:
        now = time.monotonic()
        with _warned_lock:
            last = _warned.get(key)
            if last is not None and now - last < WARNING_INTERVAL_S:
                return
            if len(_warned) >= _MAX_KEYS:
                _warned.clear()
            _warned[key] = now
        _logger.warning(message, *args, exc_info=exc_info)
    except Exception:  # noqa: S110 - a warning about telemetry must not break the caller
        pass


def _reset_warnings() -> None:
    """Forget which warnings were logged (for tests)."""
    with _warned_lock:
        _warned.clear()


def safe_str(value: object) -> str | None:
    """``value`` as text for an attribute; None when it has no usable text."""
    if isinstance(value, str):
        return value
    if value is None:
        return None
    try:
        return str(value)
    except Exception:
        return None


def safe_int(value: object) -> int | None:
    """``value`` as an int for an attribute; None when it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except Exception:
        return None
    return int(number) if number.is_integer() else None


def _describe(name: str) -> tuple[str, str]:
    info = METRICS_BY_NAME[name]
    return info.unit, info.description


def counter(meter: metrics.Meter, name: str) -> metrics.Counter:
    unit, description = _describe(name)
    return meter.create_counter(name, unit=unit, description=description)


def histogram(meter: metrics.Meter, name: str) -> metrics.Histogram:
    unit, description = _describe(name)
    buckets: Sequence[float] | None = METRICS_BY_NAME[name].buckets
    # The advisory gives the right buckets also to a user's own MeterProvider without our views.
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
    )


def observable_gauge(
    meter: metrics.Meter,
    name: str,
    callback: Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]],
) -> Any:
    unit, description = _describe(name)
    return meter.create_observable_gauge(
        name, callbacks=[callback], unit=unit, description=description
    )
