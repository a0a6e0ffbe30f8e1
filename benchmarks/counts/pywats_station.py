"""Counts: instructions per report of the real pyWATS station, without telemetry and with
pywats_otel (every instrumentation, 100 % of traces over OTLP/gRPC), and with pywats_otel on the
stock httpx instrumentor."""

from __future__ import annotations

from benchmarks._harness import CaseResult, Comparison
from benchmarks.counts import SECTION, Context
from benchmarks.pipeline import _pywats_station as station

ORDER = 10
GOAL = 0.5


def run(context: Context) -> list[CaseResult]:
    small, large = (0, 1) if context.quick else (1, 4)

    def argv(variant: str, reports: int) -> list[str]:
        return [
            "-m",
            "benchmarks.pipeline._pywats_station",
            "--variant",
            variant,
            "--server",
            context.wats,
            "--otlp",
            context.otlp_grpc,
            "--count",
            str(reports),
        ]

    for variant in station.VARIANTS:
        context.prepare(argv(variant, 0))
    jobs = [
        (argv(variant, small), argv(variant, large), large - small)
        for _ in range(context.repeats)
        for variant in station.VARIANTS
    ]
    values = context.count_pairs(jobs)
    case = CaseResult(
        SECTION,
        "real pyWATS station, per report",
        "M instructions",
        station.NONE,
        {variant: [] for variant in station.VARIANTS},
    )
    for (small_argv, _, _), value in zip(jobs, values, strict=True):
        case.samples[small_argv[3]].append(value / 1e6)
    case.comparisons += [
        Comparison(
            "real pyWATS station: pywats_otel's instructions per report, vs no telemetry",
            station.OURS,
            station.NONE,
            kind="overhead",
            goal=GOAL,
            goal_text="< 0.5 %",
        ),
        Comparison(
            "real pyWATS station: pywats_otel on the stock httpx instrumentor, vs no telemetry",
            station.OURS_STOCK,
            station.NONE,
            kind="overhead",
        ),
    ]
    case.notes.append(
        f"a 1,011-step UUTReport built with pywats-api's models, written as WSJF JSON, converted "
        f"by WATSStandardJsonConverter, queued in PersistentQueue, uploaded with pyWATS to a fake "
        f"WATS server; (runs of {large} reports - runs of {small}) / {large - small}, "
        f"{context.repeats} pair(s) of runs per variant (the spread is over the pairs); "
        "pywats_otel: 5 spans per report (convert, send, process, the API call, its httpx "
        "CLIENT span) exported over OTLP/gRPC at exit, pyWATS's log records over OTLP, metrics"
    )
    return [case]
