"""The pipeline's own metrics, pywats.otel.export.*, read from each exporter's ExportStats.

Observable instruments, read when a reader collects. The callbacks only copy counters under
the stats' own lock and never call into the SDK, so the collection of the very exporter they
describe can neither deadlock on the SDK's locks nor feed back into itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from pywats_otel import semconv
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._pipeline.export import ExportStats

__all__ = ["register"]

StatsSource = Callable[[], Sequence[ExportStats]]

# What the instruments read; None once the telemetry that registered it has shut down
# (instruments cannot be removed from a MeterProvider, only silenced).
_source: StatsSource | None = None


def _stats() -> Sequence[ExportStats]:
    source = _source
    return () if source is None else source()


def _labels(stats: ExportStats) -> dict[str, str]:
    return {semconv.OTEL_SIGNAL: stats.signal, semconv.OTEL_EXPORTER: stats.exporter}


def _observe_items(options: CallbackOptions) -> Iterable[Observation]:
    observations = []
    for stats in _stats():
        exported, failed, dropped, _, _ = stats.totals()
        labels = _labels(stats)
        for outcome, value in (("exported", exported), ("failed", failed), ("dropped", dropped)):
            observations.append(
                Observation(value, {**labels, semconv.OTEL_EXPORT_OUTCOME: outcome})
            )
    return observations


def _observe_failures(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(stats.totals()[3], _labels(stats)) for stats in _stats()]


def _observe_last_success(options: CallbackOptions) -> Iterable[Observation]:
    observations = []
    for stats in _stats():
        last_success = stats.totals()[4]
        if last_success is not None:
            observations.append(Observation(last_success, _labels(stats)))
    return observations


def _build(meter: Meter) -> list[Any]:
    return [
        create_instrument(meter, semconv.OTEL_EXPORT_ITEMS, _observe_items),
        create_instrument(meter, semconv.OTEL_EXPORT_FAILURES, _observe_failures),
        create_instrument(meter, semconv.OTEL_EXPORT_LAST_SUCCESS_TIME, _observe_last_success),
    ]


_instruments = PerMeterProvider(_build)


def register(source: StatsSource) -> Callable[[], None]:
    """Report the stats ``source`` returns; the returned undo silences the instruments."""
    global _source  # noqa: PLW0603 - the one source the instruments read
    _source = source
    _instruments.get()

    def undo() -> None:
        global _source  # noqa: PLW0603 - see register
        if _source is source:
            _source = None

    return undo
