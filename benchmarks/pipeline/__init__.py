"""Pipeline: the demo station's convert -> queue -> upload path over realistic reports, CPU and
wall time per report without telemetry and with pywats_otel, as a percentage.

Each report is a tester XML file of ``steps`` test steps (about 84 kB for 1,000) that the demo's
converter parses (``pywats_otel._tools.demo.converters.convert``), the demo's ``DiskQueue``
stores as JSON with the telemetry carrier, and an httpx client uploads (keep-alive) to the
demo's fake WATS server, one report after the other.

Every variant is a station process of its own, started once and kept warm; the controller asks
each in turn, in rotating order, for one round of ``reports`` reports, so the variants
alternate within the same minutes. A station measures its own process CPU time
(``time.process_time()``: all its threads, so also the span processor's and the gRPC exporter's
work) and wall time. The WATS server and the OTLP receiver run in processes of their own: their
CPU is not the station's.

Variants:
- ``no telemetry (instrumentation removed)``: the baseline; the same path with every
  pywats_otel call taken out (the parse, the queue file and the upload stay);
- ``no telemetry (not initialised)``: the instrumented path, init_telemetry() never called:
  the API's no-op cost;
- ``pywats_otel``: init_telemetry() as a station with a collector runs it: traces, metrics and
  logs over OTLP/gRPC to a receiver, Prometheus at /metrics, the default instrumentations
  (httpx, logging, system, threading); each round ends with a flush of the spans, whose export
  is counted;
- ``pywats_otel, 10 % of traces sampled``: the same with ``sampler=parentbased_traceidratio``,
  ``sampler_arg=0.1``: nine reports in ten make non-recording spans, which cost less and are
  not exported (the metrics stay complete);
- ``pywats_otel + periodic``: the same round with one /metrics scrape and one OTLP metric
  export added at its end. Those happen per time (every 15 to 60 s), not per report; measured
  separately, they are also reported per scrape and per export.

The case is ``per_report`` (the controller); ``_station`` is the station process it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks import _registry

SECTION = "pipeline"


class Context(_registry.Context):
    """The pipeline's ``rounds`` (``--pipeline-rounds``; by default 4 x ``--rounds``: short
    rounds pair up better) and ``reports`` per round (``--pipeline-reports``; None for the
    default)."""

    def __init__(self, cases: Sequence[_registry.Case], rounds: int, quick: bool, **options: Any):
        super().__init__(cases, options.get("pipeline_rounds") or 4 * rounds, quick, **options)
        self.reports: int | None = options.get("pipeline_reports")
