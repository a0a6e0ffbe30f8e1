"""Micro: a counter and a histogram point alone, as prometheus_client records them."""

from __future__ import annotations

from opentelemetry import metrics

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

ORDER = 30
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    return [metrics_only(context.bare, context.rounds, context.ops)]


def _metrics_only(meter: metrics.Meter) -> Operation:
    counter = create_instrument(meter, semconv.CONVERTER_EXECUTIONS)
    histogram = create_instrument(meter, semconv.CONVERTER_DURATION)
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success"}

    def operation() -> None:
        work()
        counter.add(1, attributes)
        histogram.record(0.01, attributes)

    return operation


def metrics_only(bare: _setups.BareSDK, rounds: int, ops: int) -> CaseResult:
    alone = interleave(
        SECTION,
        "counter + histogram (metrics only)",
        {
            NONE: work,
            BARE: _metrics_only(bare.meter),
            PLAN: plan_metrics,
            OURS: _metrics_only(metrics.get_meter("bench.ours.metrics")),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    alone.notes.append(
        "the metric records alone, as the original plan's prometheus_client code makes them: "
        "what the OpenTelemetry SDK's metric API costs beside prometheus_client's"
    )
    alone.not_applicable[STOCK] = NO_STOCK_SPAN
    vs_bare(alone, diagnose=False)
    return alone
