"""Micro: a report's converter run + queue right after its XML and JSON work (cold caches)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks import _setups
from benchmarks._harness import CaseResult, Comparison, Operation, rotations
from benchmarks.micro import SECTION, Context
from benchmarks.micro._common import BARE, NO_STOCK, NONE, OURS, PLAN, STOCK
from benchmarks.micro._operations import (
    converter_api,
    converter_by_hand,
    converter_plain,
    queue_api,
    queue_by_hand,
    queue_plain,
)
from pywats_otel._tools.demo import files

ORDER = 70
USES = ("providers",)


def run(context: Context) -> list[CaseResult]:
    xml = files.TestFileWriter(
        context.folder, failure_rate=0.0, steps=1000, seed=7, formats=("xml",)
    ).write()
    return [report_cold(context.bare, context.rounds, 10 if context.quick else 100, xml)]


def report_cold(bare: _setups.BareSDK, rounds: int, ops: int, xml: Path) -> CaseResult:
    """A report's telemetry (converter run, enqueue, process) right after its XML and JSON work.

    In a tight loop the interpreter's caches stay hot; in a station, parsing a report evicts
    them between two telemetry calls, which then cost more. Only the telemetry calls are timed
    here, each right after a report's parse and JSON dump (not timed).
    """
    from pywats_otel._tools.demo.converters import parse_xml

    path = str(xml)
    plain_converter = converter_plain(path)
    bare_converter = converter_by_hand(bare.tracer, bare.meter, path)
    bare_queue = queue_by_hand(bare.tracer, bare.meter)
    ours_converter = converter_api(path)

    def none() -> None:
        plain_converter()
        queue_plain()

    def by_hand() -> None:
        bare_converter()
        bare_queue()

    def ours() -> None:
        ours_converter()
        queue_api()

    variants: dict[str, Operation] = {NONE: none, BARE: by_hand, OURS: ours}

    def sample(operation: Operation) -> float:
        spent = 0
        for _ in range(ops):
            json.dumps(parse_xml(xml))
            started = time.perf_counter_ns()
            operation()
            spent += time.perf_counter_ns() - started
        return spent / ops / 1000.0

    for operation in variants.values():
        sample(operation)  # warm-up
    case = CaseResult(
        SECTION,
        "a report's converter run + queue, right after its XML and JSON work",
        "µs/op",
        NONE,
        {name: [] for name in variants},
    )
    for order in rotations(list(variants), rounds):
        for name in order:
            case.samples[name].append(sample(variants[name]))
    case.comparisons.append(
        Comparison(
            "cold caches: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base=NONE,
        )
    )
    case.not_applicable[STOCK] = NO_STOCK
    case.not_applicable[PLAN] = "compared with hot caches above; this case is about the SDK"
    return case


def finish(results: list[CaseResult]) -> None:
    """The cold figures beside the hot ones of the queue and converter cases."""
    _compare_hot_and_cold(results)


def _compare_hot_and_cold(results: list[CaseResult]) -> None:
    cases = {result.case: result for result in results}
    cold = cases["a report's converter run + queue, right after its XML and JSON work"]
    hot = {
        variant: sum(
            cases[name].median(variant) - cases[name].median(NONE)
            for name in ("queue enqueue + process", "converter run")
        )
        for variant in (BARE, OURS)
    }
    spent = {variant: cold.median(variant) - cold.median(NONE) for variant in (BARE, OURS)}
    cold.notes.append(
        "a 1,000-step XML report parsed and dumped as JSON (not timed) before each converter "
        "run, enqueue and process (timed): the telemetry then costs "
        f"{spent[OURS]:.0f} µs with pywats_otel and {spent[BARE]:.0f} µs with the bare SDK, "
        f"against {hot[OURS]:.0f} and {hot[BARE]:.0f} µs in the tight loops above (hot caches); "
        "the pipeline section measures this in a whole station"
    )
    cold.extra.update({"cold_us": spent, "hot_us": hot})
