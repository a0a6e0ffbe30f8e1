"""Counts: instructions per operation, each operation written the way each peer writes it
(``_program``), and the peer table: per operation and per report, every peer of one run side by
side."""

from __future__ import annotations

import statistics

from benchmarks._harness import CaseResult, Comparison
from benchmarks.counts import SECTION, Context
from benchmarks.counts import _program as program

ORDER = 30
GOAL_SDK = 1.05
GOAL_HTTPX = 0.55

TITLES = {
    "span": "span + counter + histogram",
    "queue": "queue enqueue + process",
    "converter": "converter run",
    "httpx": "httpx request (in-process connection pool)",
    "export": "a span exported over OTLP",
}
NOTES = {
    "span": "one span with two attributes, a counter and a histogram point; spans to a no-op "
    "exporter behind the SDK's BatchSpanProcessor; pywats_otel is this code on "
    "init_telemetry()'s providers; prometheus_client records the two metrics only",
    "queue": "a PRODUCER span with the carrier written, a CONSUMER span continuing it, four "
    "metric records",
    "converter": "an INTERNAL span with the file's name, extension and size (one stat), status "
    "and records; two metric records",
    "httpx": "a GET through httpx's own transport to a connection pool that answers in-process "
    "(no socket): the whole client path, none of the network's noise; stock instrumentor: "
    "HTTPXClientInstrumentor alone on the bare SDK",
    "export": "a converter span with four attributes, exported at exit: pywats_otel and the "
    "bare SDK over OTLP/gRPC (BatchSpanProcessor, the SDK's Python protobuf encoder) to a sink "
    "that answers without decoding, fastotel over OTLP/HTTP (its Rust batcher and encoder) to a "
    "receiver; the floor keeps a tuple and exports nothing",
}


def run(context: Context) -> list[CaseResult]:
    small, large = (10, 60) if context.quick else (100, 1100)
    operations = ("span", "httpx") if context.quick else program.OPERATIONS

    def argv(operation: str, variant: str, n: int) -> list[str]:
        return [
            "-m",
            "benchmarks.counts._program",
            "--operation",
            operation,
            "--variant",
            variant,
            "--n",
            str(n),
            "--otlp-http",
            context.otlp_http,
            "--otlp-grpc",
            context.otlp_grpc,
        ]

    pairs = [(op, v) for op in operations for v in program.VARIANTS[op]]
    for operation, variant in pairs:
        context.prepare(argv(operation, variant, 5))
    jobs = [(argv(op, v, small), argv(op, v, large), large - small) for op, v in pairs]
    values = context.count_pairs(jobs)
    results: list[CaseResult] = []
    for operation in operations:
        variants = program.VARIANTS[operation]
        case = CaseResult(
            SECTION,
            f"{TITLES[operation]}, per operation",
            "k instructions",
            program.NONE,
            {variant: [] for variant in variants},
        )
        for (op, variant), value in zip(pairs, values, strict=True):
            if op == operation:
                case.samples[variant].append(value / 1e3)
        case.notes.append(NOTES[operation])
        if program.BARE in variants and operation != "export":
            case.comparisons.append(
                Comparison(
                    f"{TITLES[operation]}: pywats_otel's instructions / the bare SDK's by hand "
                    "(overheads)",
                    program.OURS,
                    program.BARE,
                    kind="overhead ratio",
                    base=program.NONE,
                    goal=GOAL_SDK,
                    goal_text="<= 1.05",
                )
            )
        if operation == "httpx":
            case.comparisons += [
                Comparison(
                    "httpx: pywats_otel's extra instructions / the stock instrumentor's",
                    program.OURS,
                    program.STOCK,
                    kind="overhead ratio",
                    base=program.NONE,
                    goal=GOAL_HTTPX,
                    goal_text="<= 0.55",
                ),
                Comparison(
                    "httpx: pywats_otel on the stock instrumentor / the stock instrumentor alone",
                    program.OURS_ON_STOCK,
                    program.STOCK,
                    kind="overhead ratio",
                    base=program.NONE,
                ),
            ]
        if operation == "export":
            case.comparisons.append(
                Comparison(
                    "export: fastotel's instructions / the bare SDK's (overheads)",
                    program.FASTOTEL,
                    program.BARE,
                    kind="overhead ratio",
                    base=program.NONE,
                )
            )
        results.append(case)
    return results


COLUMNS = (
    program.OURS,
    program.BARE,
    program.STOCK,
    program.PLAN,
    program.FASTOTEL,
    program.FLOOR,
)


def _median(case: CaseResult, variant: str) -> float:
    return statistics.median(case.samples[variant])


def finish(results: list[CaseResult]) -> None:
    """One peer table of this run: per operation (thousands of instructions over no
    telemetry) and per report (percent over no telemetry)."""
    ours = [r for r in results if r.section == SECTION and r.case.endswith(", per operation")]
    if not ours:
        return
    header = "| per operation: extra k instructions over no telemetry | no telemetry | " + (
        " | ".join(COLUMNS) + " |"
    )
    lines = [
        "### The peers side by side (one run)",
        "",
        header,
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for case in ours:
        base = _median(case, program.NONE)
        cells = []
        for column in COLUMNS:
            if column not in case.samples:
                cells.append("n/a")
                continue
            extra = _median(case, column) - base
            text = f"{extra:.1f}"
            if column == program.OURS and program.BARE in case.samples:
                bare = _median(case, program.BARE) - base
                if bare > 0:
                    text += f" ({extra / bare:.2f} x bare)"
            cells.append(text)
        title = case.case.removesuffix(", per operation")
        lines.append(f"| {title} | {base:.1f} | " + " | ".join(cells) + " |")
    stations = [r for r in results if r.section == SECTION and r.case.endswith(", per report")]
    if stations:
        lines += [
            "",
            "| per report: instructions over no telemetry | no telemetry | pywats_otel "
            "| pywats_otel on the stock httpx instrumentor |",
            "|---|---|---|---|",
        ]
        for case in stations:
            base = _median(case, case.baseline)
            cells = []
            for variant in list(case.samples)[1:]:
                extra = _median(case, variant) - base
                cells.append(f"+{extra:.2f} M ({100 * extra / base:+.2f} %)")
            cells += ["n/a"] * (2 - len(cells))
            lines.append(f"| {case.case} | {base:.1f} M | " + " | ".join(cells) + " |")
    ours[-1].tables = lines
