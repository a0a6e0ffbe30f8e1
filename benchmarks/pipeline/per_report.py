"""Pipeline: CPU and wall time per report of the demo station's convert -> queue -> upload
path, each variant a station process of its own (``_station``), and the periodic work of the
pipeline's telemetry (one /metrics scrape, one OTLP metric export)."""

from __future__ import annotations

import json
import statistics
from typing import Any

from benchmarks._harness import CaseResult, Comparison, Helper, rotations
from benchmarks.pipeline import SECTION, Context
from benchmarks.pipeline._station import NOT_INIT, OURS, OURS_SAMPLED, REMOVED, WORKERS

ORDER = 10


def run(context: Context) -> list[CaseResult]:
    return per_report(context.rounds, context.quick, reports=context.reports)


OURS_PERIODIC = "pywats_otel + 1 scrape + 1 OTLP metric export per round"

GOAL_CPU = 1.0
#: The parts of a round each station times: conversion with enqueue, processing with the
#: upload, the export of the round's spans at its end.
PHASES = ("convert", "upload", "flush")


_SERVER = (
    "-c",
    "import sys\n"
    "from pywats_otel._tools.demo.server import FakeWATSServer\n"
    "server = FakeWATSServer()\n"
    "print(server.url, flush=True)\n"
    "sys.stdin.read()\n"
    "print(len(server.reports), flush=True)\n"
    "server.stop()\n",
)
_RECEIVER = (
    "-c",
    "import json, sys\n"
    "from pywats_otel.testing.otlp import OTLPReceiver\n"
    "receiver = OTLPReceiver('grpc').start()\n"
    "print(receiver.endpoint, flush=True)\n"
    "sys.stdin.read()\n"
    "print(json.dumps({'spans': len(receiver.spans), 'metrics': len(receiver.metrics),"
    " 'requests': receiver.requests}), flush=True)\n"
    "receiver.stop()\n",
)


class _Worker:
    """The controller's handle on one station process."""

    def __init__(self, variant: str, server: str, otlp: str, reports: int, steps: int) -> None:
        args = ["-m", "benchmarks.pipeline._station", "--variant", variant, "--server", server]
        args += ["--otlp", otlp, "--reports", str(reports), "--steps", str(steps)]
        self.helper = Helper(args, name=f"pipeline station {variant!r}", first_line=False)
        self.helper.ask("ready")

    def round(self) -> dict[str, Any]:
        return self.helper.ask("round")

    def close(self) -> dict[str, Any]:
        try:
            return self.helper.ask("quit")
        finally:
            self.helper.close()


def per_report(
    rounds: int, quick: bool, reports: int | None = None, steps: int = 1000
) -> list[CaseResult]:
    per_round = reports or (5 if quick else 20)
    server = Helper(_SERVER, name="the fake WATS server")
    receiver = Helper(_RECEIVER, name="the OTLP receiver")
    workers: dict[str, _Worker] = {}
    try:
        for variant in WORKERS:
            workers[variant] = _Worker(variant, server.line, receiver.line, per_round, steps)
        for worker in workers.values():
            worker.round()  # warm-up: imports, connections, first files
        cpu = CaseResult(
            SECTION,
            "CPU time per report",
            "µs",
            REMOVED,
            {v: [] for v in (*WORKERS, OURS_PERIODIC)},
        )
        wall = CaseResult(
            SECTION,
            "wall time per report",
            "µs",
            REMOVED,
            {v: [] for v in (*WORKERS, OURS_PERIODIC)},
        )
        scrape_ms: list[float] = []
        export_ms: list[float] = []
        phases: dict[str, dict[str, list[float]]] = {v: {} for v in WORKERS}
        for order in rotations(list(WORKERS), rounds):
            for variant in order:
                answer = workers[variant].round()
                for phase in PHASES:
                    phases[variant].setdefault(phase, []).append(
                        1e6 * answer[f"{phase}_cpu_s"] / per_round
                    )
                cpu.samples[variant].append(1e6 * answer["cpu_s"] / per_round)
                wall.samples[variant].append(1e6 * answer["wall_s"] / per_round)
                if variant == OURS:
                    periodic_cpu = answer["scrape_cpu_s"] + answer["export_cpu_s"]
                    periodic_wall = answer["scrape_wall_s"] + answer["export_wall_s"]
                    cpu.samples[OURS_PERIODIC].append(
                        1e6 * (answer["cpu_s"] + periodic_cpu) / per_round
                    )
                    wall.samples[OURS_PERIODIC].append(
                        1e6 * (answer["wall_s"] + periodic_wall) / per_round
                    )
                    scrape_ms.append(1e3 * answer["scrape_cpu_s"])
                    export_ms.append(1e3 * answer["export_cpu_s"])
        finals = {variant: worker.close() for variant, worker in workers.items()}
        workers.clear()
    finally:
        for worker in workers.values():
            worker.helper.kill()
        received = server.close()
        otlp = receiver.close()
    cpu.extra["phases_us_per_report"] = phases
    cpu.notes.append(_by_phase(phases))
    return _describe(
        cpu,
        wall,
        scrape_ms=scrape_ms,
        export_ms=export_ms,
        finals=finals,
        received=received,
        otlp=otlp,
        per_round=per_round,
        steps=steps,
    )


def _by_phase(phases: dict[str, dict[str, list[float]]]) -> str:
    """pywats_otel's extra CPU per report in each phase: medians of per-round differences."""

    def extra(phase: str) -> float:
        ours, plain = phases[OURS][phase], phases[REMOVED][phase]
        return statistics.median(o - p for o, p in zip(ours, plain, strict=True))

    convert, upload, flush = (extra(phase) for phase in PHASES)
    return (
        "pywats_otel's extra CPU per report by phase (medians of per-round differences): "
        f"convert + enqueue {convert:.0f} µs (converter span, send span, carrier, 3 metric "
        f"records), process + upload {upload:.0f} µs (process span, the httpx CLIENT span of "
        f"the stock instrumentor and our hook, 4 metric records), the export of the spans "
        f"{flush:.0f} µs (4 spans over OTLP/gRPC)"
    )


def _describe(
    cpu: CaseResult,
    wall: CaseResult,
    *,
    scrape_ms: list[float],
    export_ms: list[float],
    finals: dict[str, dict[str, Any]],
    received: str,
    otlp: str,
    per_round: int,
    steps: int,
) -> list[CaseResult]:
    for case, goal in ((cpu, GOAL_CPU), (wall, None)):
        what = "CPU" if case is cpu else "wall"
        case.comparisons += [
            Comparison(
                f"pipeline {what} overhead per report: pywats_otel vs no telemetry",
                OURS,
                REMOVED,
                kind="overhead",
                goal=goal,
                goal_text="< 1 %" if goal is not None else "",
            ),
            Comparison(
                f"pipeline {what}: pywats_otel vs not initialised", OURS, NOT_INIT, kind="overhead"
            ),
            Comparison(
                f"pipeline {what}: not initialised vs instrumentation removed",
                NOT_INIT,
                REMOVED,
                kind="overhead",
            ),
            Comparison(
                f"pipeline {what}: with 1 scrape + 1 OTLP metric export per {per_round} reports",
                OURS_PERIODIC,
                REMOVED,
                kind="overhead",
            ),
            Comparison(
                f"pipeline {what}: 10 % of traces sampled vs no telemetry",
                OURS_SAMPLED,
                REMOVED,
                kind="overhead",
            ),
        ]
    ours = finals[OURS]
    counts = json.loads(otlp.splitlines()[-1]) if otlp else {}
    cpu.notes += [
        f"{per_round} reports per round, each an XML file of {steps} steps "
        f"({ours.get('file_bytes', 0) / 1000:.0f} kB; {ours.get('report_bytes', 0) / 1000:.0f} kB "
        "of JSON in the queue and on the wire); the station is one thread doing convert, "
        "queue and upload in turn",
        "CPU is the station process's own (all its threads); the fake WATS server and the OTLP "
        "receiver are other processes",
        f"pywats_otel sent {counts.get('spans', '?')} spans and {counts.get('requests', '?')} "
        f"OTLP requests to the receiver; the server stored {received.splitlines()[-1]} reports; "
        f"/metrics served {ours.get('series', '?')} series",
    ]
    periodic = CaseResult(
        SECTION,
        "periodic work of the pipeline's telemetry (CPU per event)",
        "ms",
        "one /metrics scrape",
        {"one /metrics scrape": scrape_ms, "one OTLP metric export": export_ms},
        no_ratio=frozenset({"one OTLP metric export"}),
    )
    scrape, export = (
        periodic.median("one /metrics scrape"),
        periodic.median("one OTLP metric export"),
    )
    # Prometheus scrapes every 15 s in its example configuration (1 min by default); the
    # periodic reader exports every OTEL_METRIC_EXPORT_INTERVAL, 60 s by default.
    share = 100 * (scrape / 1000 / 15 + export / 1000 / 60)
    periodic.notes.append(
        f"the station's CPU for one scrape of its {ours.get('series', '?')} series (incl. the "
        "system metrics read at that moment) and for one OTLP metric export; at a scrape every "
        f"15 s and an export every 60 s that is {share:.3f} % of one CPU, whatever the report "
        "rate"
    )
    periodic.extra["share_of_one_cpu_percent"] = share
    return [cpu, wall, periodic]
