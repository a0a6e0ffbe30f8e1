"""Micro: a converter run (an INTERNAL span with the file's facts, two metric records)."""

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
from benchmarks.micro._operations import (
    converter_api,
    converter_by_hand,
    converter_plain,
    converter_plan,
)

ORDER = 50
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    return [converter_run(context.bare, context.rounds, context.ops, context.path)]


def converter_run(bare: _setups.BareSDK, rounds: int, ops: int, path: str) -> CaseResult:
    # The by-hand code on init_telemetry's providers, under a scope of its own.
    on_init_tracer = trace.get_tracer("bench.by_hand")
    on_init_meter = metrics.get_meter("bench.by_hand")
    converter_case = interleave(
        SECTION,
        "converter run",
        {
            NONE: converter_plain(path),
            BARE: converter_by_hand(bare.tracer, bare.meter, path),
            ON_INIT: converter_by_hand(on_init_tracer, on_init_meter, path),
            PLAN: converter_plan(path),
            OURS: converter_api(path),
        },
        baseline=NONE,
        ops=ops,
        rounds=rounds,
    )
    converter_case.notes.append(
        "an INTERNAL span with the file's name, extension and size (one stat), status and "
        "records; two metric records"
    )
    converter_case.not_applicable[STOCK] = NO_STOCK
    vs_bare(converter_case)
    return converter_case
