"""Micro: what the span processor of /traces adds to one span, against the bare SDK.

Two TracerProviders built by hand, each with a BatchSpanProcessor to a counting no-op exporter;
one also has pywats_otel's RecentTraces processor (the one init_telemetry() adds while the
endpoint runs) with its default bounds. Every span is the root of a new trace, so the
processor's eviction of the oldest trace runs on every span, as on a busy station.
"""

from __future__ import annotations

import statistics

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from benchmarks import _setups
from benchmarks._harness import CaseResult, Comparison, Operation, interleave
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import BARE, NONE, OURS, PLAN, STOCK, work
from pywats_otel import semconv
from pywats_otel._pipeline.recent_traces import RecentTraces

ORDER = 25
WITH_PAGE = "bare SDK + /traces processor"
CASE = "one span, the /traces processor on and off"


def _tracer(with_page: bool) -> tuple[TracerProvider, _setups.CountingNullExporter, trace.Tracer]:
    exporter = _setups.CountingNullExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    if with_page:
        provider.add_span_processor(RecentTraces())
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=_setups.SPAN_QUEUE))
    return provider, exporter, provider.get_tracer("bench.traces_page")


def _span(tracer: trace.Tracer) -> Operation:
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            work()

    return operation


def run(context: Context) -> list[CaseResult]:
    bare_provider, bare_exporter, bare = _tracer(with_page=False)
    page_provider, page_exporter, with_page = _tracer(with_page=True)
    try:
        result = interleave(
            SECTION,
            CASE,
            {NONE: work, BARE: _span(bare), WITH_PAGE: _span(with_page)},
            baseline=NONE,
            ops=context.ops,
            rounds=context.rounds,
        )
    finally:
        bare_provider.shutdown()
        page_provider.shutdown()
    result.comparisons.append(
        Comparison(
            "the /traces processor's cost per span / the bare SDK's span",
            WITH_PAGE,
            BARE,
            kind="share",
            base=NONE,
            goal=10.0,
            goal_text="<= 10 %",
        )
    )
    # The difference within each round, then its median: the rounds' noise cancels out.
    extra_us = statistics.median(
        page - bare
        for page, bare in zip(result.samples[WITH_PAGE], result.samples[BARE], strict=True)
    )
    result.extra["traces_processor_us_per_span"] = extra_us
    result.notes.append(
        f"the processor adds {extra_us * 1000:.0f} ns per span (median over the rounds of the "
        "difference within a round); it keeps the last 100 traces, 50 failed ones and 200 "
        "spans per trace. Instructions per span, free of the machine's load: "
        "python -m benchmarks.span_instructions"
    )
    for variant, exporter in ((BARE, bare_exporter), (WITH_PAGE, page_exporter)):
        result.extra[f"exported_{variant}"] = exporter.exported
    for variant, why in (
        (
            OURS,
            "init_telemetry() has the processor whenever the endpoint runs: see the other cases",
        ),
        (PLAN, "prometheus_client has no spans"),
        (STOCK, "no instrumentation is involved"),
    ):
        result.not_applicable[variant] = why
    return [result]
