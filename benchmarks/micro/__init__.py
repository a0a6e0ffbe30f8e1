"""Micro: the cost of one operation, side by side with what a pyWATS developer would otherwise
pick, all variants interleaved in one process.

Variants (not every one applies to every case; those that do not are shown as n/a):
- ``no telemetry``: the operation's own work only (the baseline);
- ``bare SDK by hand``: the same spans, carrier and metric records written directly against a
  TracerProvider (BatchSpanProcessor, no-op exporter) and a MeterProvider (Prometheus reader)
  built by hand;
- ``by hand on init_telemetry``: that code on the providers of ``init_telemetry()`` (its
  counting processors, ID generator and histogram views), to tell the cost of pywats_otel's
  pipeline from that of its API;
- ``stock instrumentor``: the contrib auto-instrumentation that ``opentelemetry-instrument``
  would turn on, where one exists (httpx, logging);
- ``prometheus_client (metrics only)``: module-level Counter/Histogram with the same names,
  labels and buckets, the original plan; no spans and no trace context;
- ``pywats_otel``: the public API on the providers of ``init_telemetry()`` (spans to a no-op
  exporter, metrics to the Prometheus reader).

Each case is a module of this package (see benchmarks._registry); ``_common`` and
``_operations`` hold what several of them share.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks import _registry, _setups
from benchmarks._harness import CaseResult

SECTION = "micro"


class Context(_registry.Context):
    """What the micro cases share: ``ops`` (calls per variant and round), a scratch ``folder``
    with a small CSV file at ``path``, and the providers (``bare`` and ``ours``) that the cases
    with ``USES = ("providers",)`` run on, set up before the first of them and shut down after
    the last, when the spans pywats_otel dropped over them are counted."""

    def __init__(self, cases: Sequence[_registry.Case], rounds: int, quick: bool, **options: Any):
        super().__init__(cases, rounds, quick, **options)
        self.ops = 300 if quick else 5000
        self._on_providers = [case for case in self.cases if "providers" in case.uses]
        self._providers: tuple[_setups.BareSDK, _setups.PywatsOtel] | None = None
        self._results_on_providers: list[CaseResult] = []
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Context:
        # The by-hand variants make pywats_otel's instruments again under scopes of their own on
        # init_telemetry()'s provider, on purpose; the SDK's view-conflict check ignores the
        # scope and would warn about each.
        logging.getLogger("opentelemetry.sdk.metrics._internal.metric_reader_storage").setLevel(
            logging.ERROR
        )
        self._folder = tempfile.TemporaryDirectory()
        self.folder = Path(self._folder.name)
        self.path = str(self.folder / "ict-0001.csv")
        Path(self.path).write_text("step,value\nvoltage,3.3\ncurrent,0.1\nresistance,47\n")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._providers is not None:
                bare, ours = self._providers
                self._providers = None
                try:
                    ours.shutdown()
                finally:
                    bare.shutdown()
        finally:
            assert self._folder is not None
            self._folder.cleanup()

    @property
    def bare(self) -> _setups.BareSDK:
        """The bare SDK built by hand (for cases with ``USES = ("providers",)``)."""
        return self._set_up()[0]

    @property
    def ours(self) -> _setups.PywatsOtel:
        """pywats_otel's init_telemetry() (for cases with ``USES = ("providers",)``)."""
        return self._set_up()[1]

    def _set_up(self) -> tuple[_setups.BareSDK, _setups.PywatsOtel]:
        if self._providers is None:
            raise RuntimeError('the providers are there for cases with USES = ("providers",)')
        return self._providers

    def before(self, case: _registry.Case) -> None:
        if "providers" in case.uses and self._providers is None:
            bare = _setups.BareSDK()
            ours = _setups.PywatsOtel()
            self._providers = (bare, ours)

    def after(self, case: _registry.Case, results: list[CaseResult]) -> None:
        if "providers" not in case.uses:
            return
        self._results_on_providers += results
        if case is self._on_providers[-1]:
            self._shut_down_providers()

    def _shut_down_providers(self) -> None:
        bare, ours = self._set_up()
        try:
            dropped = ours.dropped()
        finally:
            self._providers = None
            ours.shutdown()
            bare.shutdown()
        on_providers = self._results_on_providers
        on_providers[0].notes.append(
            f"spans dropped by pywats_otel's BatchSpanProcessor over the micro cases: {dropped} "
            f"(both span queues hold {_setups.SPAN_QUEUE:,}, so that no round times the "
            "cheaper path of dropping spans)"
        )
        for result in on_providers:
            result.extra["pywats_otel_spans_dropped"] = dropped

    def finish(self, results: list[CaseResult]) -> None:
        _median_check(results)


def _median_check(results: list[CaseResult]) -> None:
    """Every sample is a number: a broken variant shows here, not as a silent zero."""
    for result in results:
        for name, values in result.samples.items():
            if not values or any(value <= 0 for value in values):
                raise RuntimeError(f"{result.case}: variant {name} has no usable samples")
            statistics.median(values)
