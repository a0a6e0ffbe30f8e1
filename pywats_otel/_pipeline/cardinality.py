"""The metric cardinality limit the SDK lacks, and attribute text the wire can carry.

opentelemetry-sdk 1.45 keeps one series per attribute set, without bound: 10,000 serial numbers
as an attribute are 10,000 series per instrument, a scrape of megabytes. The metrics SDK
specification ("Cardinality limits") asks for a limit per metric stream and reader, 2,000 by
default; the SDK has none and no hook for one (no measurement processor; Views are additive).

So ``install()`` replaces ``_ViewInstrumentMatch.consume_measurement``, the private method that
finds or creates the series of a measurement in one stream of one reader. The fast path (a
series that exists) does what the SDK does, one dictionary lookup fewer. When a new series
would pass the limit of the reader, the measurement goes into the series with the attributes
``{otel.metric.overflow: true}`` instead (created in time to stay within the limit, as the
specification says), so every measurement is counted once and totals are kept. Series made
before keep aggregating. The limit counts after View attribute filtering.

A new series whose attribute keys or values are not valid UTF-8 text (a lone surrogate: a byte
that is not UTF-8 in an environment variable, a file or queue name) gets them with backslash
escapes (``caf\\xe9``), because neither Prometheus' exposition nor OTLP's protobuf can encode
them: one such value failed every later scrape with HTTP 500, and every OTLP metric export.

Both are counted per stream and reader, for ``status()`` and the metrics
``pywats.otel.metric.overflow`` and ``pywats.otel.metric.replaced_values``; the first overflow
of a metric is warned about once. Only readers of pywats_otel's own MeterProvider are limited
(``register_reader()``): a MeterProvider of the program's own behaves as the SDK's.

Limits: entries are never evicted (the SDK does not either), so with delta temporality the limit
holds for the life of the process, not per export. An observable instrument's overflow series
holds the last overflowed observation, not their sum (the SDK's observable sums take each
observation as the new total).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from pywats_otel import semconv
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._base.text import is_utf8

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = [
    "OVERFLOW_ATTRIBUTES",
    "clean_text",
    "cleaned_and_counted",
    "count_replaced",
    "install",
    "register_reader",
    "reset",
    "snapshot",
    "unregister_reader",
]

_logger = logging.getLogger("pywats_otel")

OVERFLOW_ATTRIBUTES: Mapping[str, bool] = {semconv.OTEL_METRIC_OVERFLOW: True}


@dataclass
class _Reader:
    """A reader of pywats_otel's MeterProvider: its limit, and its exporter's name."""

    #: The reader's ``_instrument_class_aggregation``: each series of the reader's streams is
    #: created with it, which is how a stream is told to belong to this reader.
    aggregation: object
    limit: int
    exporter: str


@dataclass
class _Counts:
    """What happened in one stream of one reader."""

    metric: str
    exporter: str
    overflow: int = 0
    replaced: int = 0


_lock = threading.Lock()
#: id(reader._instrument_class_aggregation) -> the reader (which keeps the object, so the id
#: stays its own).
_readers: dict[int, _Reader] = {}
_counts: list[_Counts] = []
_warned: set[str] = set()
_installed = False
_COUNTS_ATTRIBUTE = "_pywats_otel_counts"
# The SDK's series key function and the overflow series' key, bound by install().
_hash_attributes: Callable[[Any], Any] = hash
_overflow_key: Any = None


def clean_text(text: str) -> str:
    """``text`` as valid UTF-8 text: lone surrogates as backslash escapes (``\\xe9`` for a byte
    that came in through surrogateescape, ``\\ud800`` for any other)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clean_value(value: Any) -> tuple[Any, int]:
    if isinstance(value, str):
        return (clean_text(value), 1) if not is_utf8(value) else (value, 0)
    if isinstance(value, (tuple, list)):
        cleaned = [_clean_value(item) for item in value]
        replaced = sum(count for _, count in cleaned)
        return (tuple(item for item, _ in cleaned), replaced) if replaced else (value, 0)
    return value, 0


def _clean_attributes(attributes: Mapping[str, Any]) -> tuple[dict[str, Any] | None, int]:
    """(attributes with every key and text value valid UTF-8, how many were replaced), or
    (None, 0) when nothing needed it."""
    replaced = 0
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        name = key
        if not is_utf8(key):
            name, replaced = clean_text(key), replaced + 1
        text, count = _clean_value(value)
        replaced += count
        clean[name] = text
    return (clean, replaced) if replaced else (None, 0)


class _Cleaning:
    """The aggregation of a series whose attributes were cleaned: measurements reach it with
    their attributes cleaned too (exemplars keep the measurement's other attributes)."""

    def __init__(self, delegate: Any) -> None:
        self._delegate = delegate

    def aggregate(self, measurement: Any, should_sample_exemplar: bool = True) -> None:
        self._delegate.aggregate(_clean_measurement(measurement), should_sample_exemplar)

    def collect(self, *args: Any, **kwargs: Any) -> Any:
        return self._delegate.collect(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._delegate, name)


def _clean_measurement(measurement: Any) -> Any:
    if not measurement.attributes:
        return measurement
    clean, _ = _clean_attributes(measurement.attributes)
    return measurement if clean is None else dataclasses.replace(measurement, attributes=clean)


def _counts_of(match: Any, reader: _Reader) -> _Counts:
    counts: _Counts | None = match.__dict__.get(_COUNTS_ATTRIBUTE)
    if counts is None:
        counts = _Counts(match._name, reader.exporter)
        setattr(match, _COUNTS_ATTRIBUTE, counts)
        with _lock:
            _counts.append(counts)
    return counts


def _new_aggregation(match: Any, attributes: Mapping[str, Any]) -> Any:
    # The SDK's own creation code (_view_instrument_match.py, consume_measurement).
    from opentelemetry.sdk.metrics._internal.aggregation import DefaultAggregation

    view = match._view
    if not isinstance(view._aggregation, DefaultAggregation):
        factory = view._aggregation
    else:
        factory = match._instrument_class_aggregation[match._instrument.__class__]
    return factory._create_aggregation(
        match._instrument, attributes, view._exemplar_reservoir_factory, time_ns()
    )


def _series(
    match: Any, key: Any, attributes: Mapping[str, Any], measurement: Any
) -> tuple[Any, Any]:
    """The aggregation of a measurement whose series is not there yet (the slow path), and the
    measurement to give it. Runs under the stream's lock, as the SDK creates series."""
    attributes = dict(attributes)  # the series keeps its own copy
    warn: tuple[str, int, str] | None = None
    with match._lock:
        series = match._attributes_aggregation
        aggregation = series.get(key)
        if aggregation is not None:
            return aggregation, measurement
        reader = _readers.get(id(match._instrument_class_aggregation))
        if reader is None:  # a MeterProvider of the program's own: as the SDK does
            aggregation = _new_aggregation(match, attributes)
            series[key] = aggregation
            return aggregation, measurement
        overflow_key = _overflow_key
        limit = reader.limit
        # At most `limit` series, the overflow series among them (made before it is needed).
        if (
            limit > 0
            and key != overflow_key
            and len(series) + (overflow_key not in series) >= limit
        ):
            counts = _counts_of(match, reader)
            counts.overflow += 1
            if counts.overflow == 1:
                warn = (match._name, limit, reader.exporter)
            aggregation = series.get(overflow_key)
            if aggregation is None:
                aggregation = _new_aggregation(match, dict(OVERFLOW_ATTRIBUTES))
                series[overflow_key] = aggregation
            measurement = _clean_measurement(measurement)
        else:
            clean, replaced = _clean_attributes(attributes)
            if clean is None:
                aggregation = _new_aggregation(match, attributes)
            else:
                _counts_of(match, reader).replaced += replaced
                aggregation = _Cleaning(_new_aggregation(match, clean))
                measurement = _clean_measurement(measurement)
            series[key] = aggregation
    if warn is not None:
        _warn_overflow(*warn)
    return aggregation, measurement


def _warn_overflow(metric: str, limit: int, exporter: str) -> None:
    with _lock:
        if metric in _warned:
            return
        _warned.add(metric)
    _logger.warning(
        "pywats_otel: metric %s reached the cardinality limit of %d series (%s reader); the "
        "measurements of further attribute sets are counted in its series with "
        "otel.metric.overflow=true. An attribute with unbounded values (a serial number, an "
        "ID) belongs on spans, not metrics; or raise metric_cardinality_limit",
        metric,
        limit,
        exporter,
    )


_NO_ATTRIBUTES: dict[str, Any] = {}


def _consume_measurement(self: Any, measurement: Any, should_sample_exemplar: bool = True) -> None:
    """``_ViewInstrumentMatch.consume_measurement`` with the cardinality limit."""
    # Read, never changed: the measurement's own mapping, as the SDK's method uses it.
    attributes = measurement.attributes or _NO_ATTRIBUTES
    keys = self._view._attribute_keys
    if keys is not None:
        attributes = {k: v for k, v in attributes.items() if k in keys}
    key = _hash_attributes(attributes)
    aggregation = self._attributes_aggregation.get(key)
    if aggregation is None:
        aggregation, measurement = _series(self, key, attributes, measurement)
    aggregation.aggregate(measurement, should_sample_exemplar)


_EXPECTED = ("_attributes_aggregation", "_lock", "_instrument_class_aggregation", "_view")


def install() -> bool:
    """Put the limit into the SDK (once per process); False, with a warning, when the SDK's
    internals are not as this was written for (the limit is then not enforced)."""
    global _installed, _hash_attributes, _overflow_key  # noqa: PLW0603 - patched once per process
    with _lock:
        if _installed:
            return True
        try:
            from opentelemetry.sdk.metrics._internal import _view_instrument_match as module

            names = module._ViewInstrumentMatch.__init__.__code__.co_names
            usable = all(name in names for name in _EXPECTED) and callable(
                getattr(module, "_hash_attributes", None)
            )
        except (ImportError, AttributeError):
            usable = False
        if not usable:
            from opentelemetry.sdk.version import __version__ as sdk_version

            _logger.warning(
                "pywats_otel: opentelemetry-sdk %s is not the metrics SDK the cardinality limit "
                "was written for; metrics have no cardinality limit",
                sdk_version,
            )
            return False
        _hash_attributes = module._hash_attributes
        _overflow_key = _hash_attributes(dict(OVERFLOW_ATTRIBUTES))
        module._ViewInstrumentMatch.consume_measurement = _consume_measurement  # type: ignore[method-assign]
        _installed = True
        return True


def register_reader(reader: MetricReader, limit: int, exporter: str) -> None:
    """Limit the streams of ``reader`` (of pywats_otel's MeterProvider) to ``limit`` series."""
    aggregation = reader._instrument_class_aggregation
    with _lock:
        _readers[id(aggregation)] = _Reader(aggregation, limit, exporter)


def unregister_reader(reader: MetricReader) -> None:
    with _lock:
        _readers.pop(id(reader._instrument_class_aggregation), None)


_replaced_seen: dict[tuple[str, str, str], _Counts] = {}
_MAX_REPLACED_SEEN = 1000


def cleaned_and_counted(text: str, metric: str, exporter: str) -> str:
    """``text`` itself when it is valid UTF-8, else written with backslash escapes and counted
    against ``metric`` (:func:`count_replaced`)."""
    if is_utf8(text):
        return text
    count_replaced(metric, exporter, text)
    return clean_text(text)


def count_replaced(metric: str, exporter: str, text: str) -> None:
    """Count a text that was not UTF-8 outside a series' attributes (a description, a scope
    name) once, however often it is served."""
    with _lock:
        key = (metric, exporter, text)
        if key in _replaced_seen or len(_replaced_seen) >= _MAX_REPLACED_SEEN:
            return
        counts = next(
            (c for c in _replaced_seen.values() if (c.metric, c.exporter) == (metric, exporter)),
            None,
        )
        if counts is None:
            counts = _Counts(metric, exporter)
            _counts.append(counts)
        _replaced_seen[key] = counts
        counts.replaced += 1


def reset() -> None:
    """Forget the counts and warnings (a new start-up, a forked child's fresh series)."""
    with _lock:
        _counts.clear()
        _warned.clear()
        _replaced_seen.clear()


def snapshot() -> dict[str, dict[str, dict[str, int]]]:
    """``{"overflow": {metric: {exporter: measurements}}, "replaced_values": {...}}``."""
    result: dict[str, dict[str, dict[str, int]]] = {"overflow": {}, "replaced_values": {}}
    with _lock:
        counts = list(_counts)
    for entry in counts:
        for kind, value in (("overflow", entry.overflow), ("replaced_values", entry.replaced)):
            if value:
                per_exporter = result[kind].setdefault(entry.metric, {})
                per_exporter[entry.exporter] = per_exporter.get(entry.exporter, 0) + value
    return result


# -- the counts as metrics ----------------------------------------------------------------

_observing = False


def _observe(kind: str) -> Any:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        if not _observing:
            return []
        return [
            Observation(value, {semconv.OTEL_EXPORTER: exporter, semconv.OTEL_METRIC_NAME: metric})
            for metric, per_exporter in snapshot()[kind].items()
            for exporter, value in per_exporter.items()
        ]

    return observe


def _build(meter: Meter) -> list[Any]:
    return [
        create_instrument(meter, semconv.OTEL_METRIC_OVERFLOW_MEASUREMENTS, _observe("overflow")),
        create_instrument(meter, semconv.OTEL_METRIC_REPLACED_VALUES, _observe("replaced_values")),
    ]


_instruments = PerMeterProvider(_build)


def observe() -> Any:
    """Report the counts as metrics until the returned undo runs."""
    global _observing  # noqa: PLW0603 - whether the instruments report
    _observing = True
    _instruments.get()

    def undo() -> None:
        global _observing  # noqa: PLW0603 - see above
        _observing = False

    return undo
