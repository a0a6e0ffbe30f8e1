"""Pipeline: CPU and wall time per report of the real pyWATS station
(``_pywats_station``: pywats-api's models, WATSStandardJsonConverter, PersistentQueue, pyWATS
uploads to a fake WATS server), each variant a station process of its own, in interleaved
rounds; the same station whose instructions the counts section counts."""

from __future__ import annotations

from benchmarks._harness import CaseResult, Comparison, Helper, rotations
from benchmarks.pipeline import SECTION, Context
from benchmarks.pipeline import _pywats_station as station

ORDER = 20
GOAL = 0.5

_SERVER = (
    "import sys\n"
    "from pywats_otel.testing.wats import FakeWATS\n"
    "from benchmarks import _sink\n"
    "wats = FakeWATS()\n"
    "sink, endpoint = _sink.start()\n"
    "print(wats.url, endpoint, flush=True)\n"
    "sys.stdin.read()\n"
    "sink.stdin.close(); sink.wait(30); wats.stop()\n"
)


def _worker(variant: str, server: str, otlp: str, reports: int) -> Helper:
    args = ["-m", "benchmarks.pipeline._pywats_station", "--variant", variant]
    args += ["--server", server, "--otlp", otlp, "--reports", str(reports)]
    worker = Helper(args, name="the pyWATS station", first_line=False)
    worker.ask("ready")
    return worker


def run(context: Context) -> list[CaseResult]:
    reports = 1 if context.quick else 3
    rounds = 3 if context.quick else max(context.rounds // 2, 10)
    peers = Helper(["-c", _SERVER], name="the fake WATS server and the OTLP sink")
    server, otlp = peers.line.split()
    workers: dict[str, Helper] = {}
    cpu = CaseResult(
        SECTION,
        "real pyWATS station: CPU time per report",
        "ms",
        station.NONE,
        {v: [] for v in station.VARIANTS},
    )
    wall = CaseResult(
        SECTION,
        "real pyWATS station: wall time per report",
        "ms",
        station.NONE,
        {v: [] for v in station.VARIANTS},
    )
    try:
        for variant in station.VARIANTS:
            workers[variant] = _worker(variant, server, otlp, reports)
            workers[variant].ask("round")  # warm-up
        for order in rotations(list(station.VARIANTS), rounds):
            for variant in order:
                answer = workers[variant].ask("round")
                cpu.samples[variant].append(1e3 * answer["cpu_s"] / reports)
                wall.samples[variant].append(1e3 * answer["wall_s"] / reports)
        for worker in workers.values():
            worker.ask("quit")
            worker.close(timeout_s=60)
        workers.clear()
    finally:
        for worker in workers.values():
            worker.kill()
        peers.close(timeout_s=60)
    for case, what in ((cpu, "CPU"), (wall, "wall")):
        case.comparisons += [
            Comparison(
                f"real pyWATS station: pywats_otel's {what} per report, vs no telemetry",
                station.OURS,
                station.NONE,
                kind="overhead",
                goal=GOAL if case is cpu else None,
                goal_text="< 0.5 %" if case is cpu else "",
            ),
            Comparison(
                f"real pyWATS station: {what} with the stock httpx instrumentor, vs no telemetry",
                station.OURS_STOCK,
                station.NONE,
                kind="overhead",
            ),
        ]
    cpu.notes.append(
        f"{rounds} interleaved rounds of {reports} report(s) per variant, each round ending with "
        "a flush of its spans (their export counted); the station's process CPU, all its "
        "threads; CPU time wanders more from round to round than the effect, which the "
        "instruction counts resolve"
    )
    return [cpu, wall]
