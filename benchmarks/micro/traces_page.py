"""Micro: what /traces adds to one span, against the bare SDK.

Three TracerProviders built by hand: the bare SDK (a BatchSpanProcessor to a counting no-op
exporter), pywats_otel's span pipeline (its counting BatchSpanProcessor and exporter, as
init_telemetry() builds it for a trace exporter) with /traces off, and the same with /traces
on (the RecentTraces processor, fed by that batch processor as init_telemetry() does, with its
default bounds). Every span is the root of a new trace, so the eviction of the oldest trace
runs for every span, as on a busy station.
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
from pywats_otel._pipeline.export import (
    CountingBatchSpanProcessor,
    CountingSpanExporter,
    ExportStats,
)
from pywats_otel._pipeline.recent_traces import RecentTraces

ORDER = 25
PAGE_OFF = "pywats_otel's span pipeline, /traces off"
PAGE_ON = "pywats_otel's span pipeline, /traces on"
CASE = "one span, the /traces processor on and off"


def _provider(variant: str) -> tuple[TracerProvider, _setups.CountingNullExporter]:
    exporter = _setups.CountingNullExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    if variant == BARE:
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=_setups.SPAN_QUEUE))
        return provider, exporter
    stats = ExportStats("traces", "bench-null", "bench")
    processor = CountingBatchSpanProcessor(
        CountingSpanExporter(exporter, stats), stats, max_queue_size=_setups.SPAN_QUEUE
    )
    provider.add_span_processor(processor)
    if variant == PAGE_ON:
        processor.feed(RecentTraces())
    return provider, exporter


def _span(tracer: trace.Tracer) -> Operation:
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            work()

    return operation


def run(context: Context) -> list[CaseResult]:
    built = {variant: _provider(variant) for variant in (BARE, PAGE_OFF, PAGE_ON)}
    try:
        result = interleave(
            SECTION,
            CASE,
            {
                NONE: work,
                **{
                    variant: _span(provider.get_tracer("bench.traces_page"))
                    for variant, (provider, _) in built.items()
                },
            },
            baseline=NONE,
            ops=context.ops,
            rounds=context.rounds,
        )
    finally:
        for provider, _ in built.values():
            provider.shutdown()
    result.comparisons += [
        Comparison(
            "what /traces adds to a span / the bare SDK's span",
            PAGE_ON,
            PAGE_OFF,
            kind="share",
            base=NONE,
            goal=5.0,
            goal_text="<= 5 %",
        ),
        Comparison("pywats_otel's span with /traces / the bare SDK's", PAGE_ON, BARE),
    ]
    # The difference within each round, then its median: the rounds' noise cancels out.
    extra_us = statistics.median(
        on - off for on, off in zip(result.samples[PAGE_ON], result.samples[PAGE_OFF], strict=True)
    )
    result.extra["traces_page_us_per_span"] = extra_us
    result.notes.append(
        f"/traces adds {extra_us * 1000:.0f} ns per span (median over the rounds of the "
        "difference within a round); it keeps the last 100 traces, 50 failed ones and 200 "
        "spans per trace. Instructions per span, free of the machine's load: "
        "python -m benchmarks.span_instructions"
    )
    for variant, (_, exporter) in built.items():
        result.extra[f"exported_{variant}"] = exporter.exported
    for variant, why in (
        (OURS, "the variants above are pywats_otel's own span pipeline, built by hand"),
        (PLAN, "prometheus_client has no spans"),
        (STOCK, "no instrumentation is involved"),
    ):
        result.not_applicable[variant] = why
    return [result]
