"""Scale: what grows with the number of series and reports, and what start-up costs.

- ``/metrics`` scrape with about 100 and 5,000 series: pywats_otel's endpoint beside
  prometheus_client's own server holding the same series, over HTTP (gzip, as Prometheus asks)
  and the rendering alone;
- memory (RSS) after start-up and after 100,000 reports, each variant in a fresh process, on
  a lighter per-report path (converter run, enqueue, process: no disk, no upload) so that the
  run ends in reasonable time; spans, metrics and logs go over OTLP/gRPC to a sink process;
- import time of pywats_otel beside the bare OpenTelemetry SDK and prometheus_client, a fresh
  interpreter per sample, and which modules a Prometheus-only start-up imports;
- one collection of the process and system metrics, beside the contrib instrumentor.

Each case is a module of this package (see benchmarks._registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks import _registry

SECTION = "scale"


class Context(_registry.Context):
    """The scale cases' ``reports`` for the memory case (``--scale-reports``; None for the
    default)."""

    def __init__(self, cases: Sequence[_registry.Case], rounds: int, quick: bool, **options: Any):
        super().__init__(cases, rounds, quick, **options)
        self.reports: int | None = options.get("scale_reports")
