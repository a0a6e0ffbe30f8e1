"""Micro: one span with two attributes, a counter and a histogram point."""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace

from benchmarks import _setups
from benchmarks._harness import CaseResult, Operation, interleave
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import (
    BARE,
    NO_STOCK_SPAN,
    NONE,
    OURS,
    PLAN,
    STOCK,
    vs_bare,
    work,
)
from benchmarks.micro._operations import plan_metrics
from pywats_otel import semconv
from pywats_otel._base.otel import create_instrument

ORDER = 20
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    return [span_and_metrics(context.bare, context.rounds, context.ops)]


def _span_and_metrics(tracer: trace.Tracer, meter: metrics.Meter) -> Operation:
    counter = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    histogram = create_instrument(meter, semconv.CONVERTER_DURATION)
    attributes: dict[str, Any] = {
        semconv.CONVERTER_NAME: "csv",
        semconv.CONVERTER_STATUS: "success",
    }

    def operation() -> None:
        with tracer.start_as_current_span("convert csv", attributes=attributes):
            work()
        counter.add(1, attributes)
        histogram.record(0.01, attributes)

    return operation


def span_and_metrics(bare: _setups.BareSDK, rounds: int, ops: int) -> CaseResult:
    ours_tracer, ours_meter = trace.get_tracer("bench.ours"), metrics.get_meter("bench.ours")
    both = interleave(
        SECTION,
        "span + counter + histogram",
        {
            NONE: work,
            BARE: _span_and_metrics(bare.tracer, bare.meter),
            PLAN: plan_metrics,
            OURS: _span_and_metrics(ours_tracer, ours_meter),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    both.notes.append(
        "one span with two attributes, a counter and a histogram point; pywats_otel is this "
        "code on init_telemetry()'s providers (there is no API of ours for a bare span); "
        "prometheus_client records the two metrics only"
    )
    both.not_applicable[STOCK] = NO_STOCK_SPAN
    vs_bare(both, diagnose=False)
    return both
