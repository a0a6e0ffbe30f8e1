"""What the micro cases share: the variants' names, the budget goal, the
stand-in for an operation's own work, and the comparisons with the bare SDK by hand."""

from __future__ import annotations

from benchmarks._harness import CaseResult, Comparison

NONE = "no telemetry"
BARE = "bare SDK by hand"
ON_INIT = "by hand on init_telemetry"
STOCK = "stock instrumentor"
PLAN = "prometheus_client (metrics only)"
OURS = "pywats_otel"

GOAL_SDK = 1.10
NO_STOCK = (
    "no contrib instrumentation exists for a station's own queue or converters; "
    "`opentelemetry-instrument` turns on nothing here"
)
NO_STOCK_SPAN = "a hand-made span has no auto-instrumentation"


def work() -> int:
    return sum(range(20))


def vs_bare(case: CaseResult, *, diagnose: bool = True) -> None:
    case.comparisons.append(
        Comparison(
            f"{case.case}: pywats_otel's cost / the bare SDK's by hand",
            OURS,
            BARE,
            kind="overhead ratio",
            base=NONE,
            goal=GOAL_SDK,
            goal_text="<= 1.10",
        )
    )
    if diagnose and ON_INIT in case.samples:
        case.comparisons += [
            Comparison(
                "of which the pipeline: by hand on init_telemetry / bare SDK", ON_INIT, BARE
            ),
            Comparison("of which the API: pywats_otel / by hand on init_telemetry", OURS, ON_INIT),
        ]
    if PLAN in case.samples:
        case.comparisons.append(
            Comparison(
                "pywats_otel's cost / prometheus_client's (metrics only)",
                OURS,
                PLAN,
                kind="overhead ratio",
                base=NONE,
            )
        )
