"""Micro: a queue enqueue + process (a PRODUCER and a CONSUMER span, four metric records)."""

from __future__ import annotations

from opentelemetry import metrics, trace

from benchmarks import _setups
from benchmarks._harness import CaseResult, interleave
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import (
    BARE,
    NO_STOCK,
    NONE,
    ON_INIT,
    OURS,
    PLAN,
    STOCK,
    vs_bare,
)
from benchmarks.micro._operations import queue_api, queue_by_hand, queue_plain, queue_plan

ORDER = 40
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    return [queue_enqueue_process(context.bare, context.rounds, context.ops)]


def queue_enqueue_process(bare: _setups.BareSDK, rounds: int, ops: int) -> CaseResult:
    # The by-hand code on init_telemetry's providers, under a scope of its own.
    on_init_tracer = trace.get_tracer("bench.by_hand")
    on_init_meter = metrics.get_meter("bench.by_hand")
    queue_case = interleave(
        SECTION,
        "queue enqueue + process",
        {
            NONE: queue_plain,
            BARE: queue_by_hand(bare.tracer, bare.meter),
            ON_INIT: queue_by_hand(on_init_tracer, on_init_meter),
            PLAN: queue_plan,
            OURS: queue_api,
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    queue_case.notes.append(
        "a PRODUCER span with the carrier written, a CONSUMER span continuing it, four metric "
        "records (enqueued, wait, processed, processing duration)"
    )
    queue_case.not_applicable[STOCK] = NO_STOCK
    vs_bare(queue_case)
    return queue_case
