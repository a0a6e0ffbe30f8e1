"""Counts: instructions per report of the demo station's light report (a 1,000-step XML file
parsed into dicts and uploaded as JSON), without telemetry and with pywats_otel."""

from __future__ import annotations

from benchmarks._harness import CaseResult, Comparison
from benchmarks.counts import SECTION, Context
from benchmarks.pipeline._station import OURS, REMOVED

ORDER = 20
GOAL = 5.0
VARIANTS = (REMOVED, OURS)


def run(context: Context) -> list[CaseResult]:
    small, large = (1, 3) if context.quick else (5, 25)

    def argv(variant: str, reports: int) -> list[str]:
        return [
            "-m",
            "benchmarks.pipeline._station",
            "--variant",
            variant,
            "--server",
            context.demo_server,
            "--otlp",
            context.otlp_grpc,
            "--reports",
            "1",
            "--steps",
            "1000",
            "--count",
            str(reports),
        ]

    for variant in VARIANTS:
        context.prepare(argv(variant, 0))
    jobs = [
        (argv(variant, small), argv(variant, large), large - small)
        for _ in range(context.repeats)
        for variant in VARIANTS
    ]
    values = context.count_pairs(jobs)
    case = CaseResult(
        SECTION,
        "demo station (light report), per report",
        "M instructions",
        REMOVED,
        {variant: [] for variant in VARIANTS},
    )
    for (small_argv, _, _), value in zip(jobs, values, strict=True):
        case.samples[small_argv[3]].append(value / 1e6)
    case.comparisons.append(
        Comparison(
            "demo station: pywats_otel's instructions per report, vs no telemetry",
            OURS,
            REMOVED,
            kind="overhead",
            goal=GOAL,
            goal_text="< 5 %",
        )
    )
    case.notes.append(
        f"the pipeline section's station in count mode: (runs of {large} reports - runs of "
        f"{small}) / {large - small}, {context.repeats} pair(s) of runs per variant; pywats_otel: "
        "converter, send and process spans and the httpx CLIENT span, exported over OTLP/gRPC "
        "at exit"
    )
    return [case]
