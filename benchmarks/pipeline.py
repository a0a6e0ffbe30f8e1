"""Pipeline: the demo station's convert -> queue -> upload path over realistic reports, CPU and
wall time per report without telemetry and with pywats_otel, as a percentage.

Each report is a tester XML file of ``steps`` test steps (about 84 kB for 1,000) that the demo's
converter parses (``pywats_otel._tools.demo.converters.convert``), the demo's ``DiskQueue``
stores as JSON with the telemetry carrier, and an httpx client uploads (keep-alive) to the
demo's fake WATS server, one report after the other.

Every variant is a station process of its own, started once and kept warm; the controller asks
each in turn, in rotating order, for one round of ``reports`` reports, so the variants
alternate within the same minutes. A station measures its own process CPU time
(``time.process_time()``: all its threads, so also the span processor's and the gRPC exporter's
work) and wall time. The WATS server and the OTLP receiver run in processes of their own: their
CPU is not the station's.

Variants:
- ``no telemetry (instrumentation removed)``: the baseline; the same path with every
  pywats_otel call taken out (the parse, the queue file and the upload stay);
- ``no telemetry (not initialised)``: the instrumented path, init_telemetry() never called:
  the API's no-op cost;
- ``pywats_otel``: init_telemetry() as a station with a collector runs it: traces, metrics and
  logs over OTLP/gRPC to a receiver, Prometheus at /metrics, the default instrumentations
  (httpx, logging, system, threading); each round ends with a flush of the spans, whose export
  is counted;
- ``pywats_otel, 10 % of traces sampled``: the same with ``sampler=parentbased_traceidratio``,
  ``sampler_arg=0.1``: nine reports in ten make non-recording spans, which cost less and are
  not exported (the metrics stay complete);
- ``pywats_otel + periodic``: the same round with one /metrics scrape and one OTLP metric
  export added at its end. Those happen per time (every 15 to 60 s), not per report; measured
  separately, they are also reported per scrape and per export.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from benchmarks._harness import CaseResult, Comparison, clean_env, rotations

SECTION = "pipeline"

REMOVED = "no telemetry (instrumentation removed)"
NOT_INIT = "no telemetry (not initialised)"
OURS = "pywats_otel (Prometheus + OTLP)"
OURS_SAMPLED = "pywats_otel, 10 % of traces sampled"
OURS_PERIODIC = "pywats_otel + 1 scrape + 1 OTLP metric export per round"
WORKERS = (REMOVED, NOT_INIT, OURS, OURS_SAMPLED)

GOAL_CPU = 1.0
#: The parts of a round each station times: conversion with enqueue, processing with the
#: upload, the export of the round's spans at its end.
PHASES = ("convert", "upload", "flush")
ROOT = Path(__file__).resolve().parents[1]


class _Peer:
    """A helper process that prints one line (its URL) when ready and runs until stdin closes."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=clean_env(),
        )
        assert self.process.stdout is not None
        self.line = self.process.stdout.readline().strip()
        if not self.line:
            raise RuntimeError(f"benchmark helper {args} did not start")

    def close(self) -> str:
        """Close stdin, wait, and return what it printed last."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            stdin.close()
            rest = stdout.read()
            self.process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)
            rest = ""
        return rest.strip()


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
        self.variant = variant
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.pipeline",
                "--variant",
                variant,
                "--server",
                server,
                "--otlp",
                otlp,
                "--reports",
                str(reports),
                "--steps",
                str(steps),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=clean_env(),
        )
        self._ask("ready")

    def _ask(self, command: str) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            code = self.process.wait(10)
            raise RuntimeError(f"pipeline station {self.variant!r} exited ({code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def round(self) -> dict[str, Any]:
        return self._ask("round")

    def close(self) -> dict[str, Any]:
        try:
            return self._ask("quit")
        finally:
            self.process.wait(30)


def run(
    rounds: int, quick: bool, reports: int | None = None, steps: int = 1000
) -> list[CaseResult]:
    per_round = reports or (5 if quick else 20)
    server = _Peer(list(_SERVER))
    receiver = _Peer(list(_RECEIVER))
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
            worker.process.kill()
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


# -- the station process --------------------------------------------------------------------


class _Station:
    def __init__(self, variant: str, server: str, otlp: str, reports: int, steps: int) -> None:
        import httpx

        from pywats_otel._tools.demo.files import TestFileWriter
        from pywats_otel._tools.demo.station import DiskQueue

        self.variant = variant
        self.instrumented = variant != REMOVED
        self.workdir = Path(tempfile.mkdtemp(prefix="pywats-otel-bench-"))
        self.telemetry: Any = None
        if variant in (OURS, OURS_SAMPLED):
            from pywats_otel import init_telemetry

            # A station with a collector: the defaults send traces, metrics and logs over OTLP
            # and serve /metrics; default instrumentations (httpx, logging, system, threading).
            sampling = (
                {"sampler": "parentbased_traceidratio", "sampler_arg": 0.1}
                if variant == OURS_SAMPLED
                else {}
            )
            self.telemetry = init_telemetry(
                service_name="bench-station",
                otlp_endpoint=otlp,
                prometheus_host="127.0.0.1",
                prometheus_port=0,
                disk_paths=str(self.workdir),
                **sampling,
            )
        self.queue = DiskQueue(self.workdir / "queue")
        self.inbox = self.workdir / "inbox"
        self.inbox.mkdir()
        templates = self.workdir / "templates"
        templates.mkdir()
        writer = TestFileWriter(templates, failure_rate=0.0, steps=steps, seed=7, formats=("xml",))
        self.templates = [writer.write() for _ in range(reports)]
        self.client = httpx.Client(base_url=server, timeout=30.0)
        self.rounds = 0
        self.report_bytes = 0

    # the path, with and without the instrumentation

    def _convert(self, path: Path) -> None:
        from pywats_otel._tools.demo.converters import convert, parse_xml

        if self.instrumented:
            result = convert(path, self.queue.put)
            if result.status != "success":
                raise RuntimeError(f"conversion of {path.name}: {result}")
        else:
            report = parse_xml(path)
            item = {
                "id": report["id"],
                "report": report,
                "attempt": 0,
                "not_before": 0.0,
                "metadata": {},
            }
            self.queue._write(self.queue.pending / f"{time.time_ns()}-{report['id']}.json", item)
        path.unlink()

    def _upload(self) -> None:
        from pywats_otel import queue

        found = self.queue.due()
        if found is None:
            raise RuntimeError("the queue is empty after a conversion")
        path, item = found
        if self.instrumented:
            with queue.process("reports", item["metadata"], item_id=item["id"], attempt=1):
                response = self.client.post("/api/reports", json=item["report"])
        else:
            response = self.client.post("/api/reports", json=item["report"])
        if response.status_code != 201:
            raise RuntimeError(f"upload answered {response.status_code}")
        self.report_bytes = len(response.request.content)
        self.queue.done(path)

    def round(self) -> dict[str, Any]:
        self.rounds += 1
        files = []
        for index, template in enumerate(self.templates):
            target = self.inbox / f"{self.rounds:04d}-{index:04d}.xml"
            shutil.copyfile(template, target)
            files.append(target)
        gc.collect()
        converting = uploading = 0.0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for path in files:
            started = time.process_time()
            self._convert(path)
            converted = time.process_time()
            self._upload()
            converting += converted - started
            uploading += time.process_time() - converted
        flushed = time.process_time()
        if self.telemetry is not None:
            # The round's spans are exported inside the measured time.
            self.telemetry.tracer_provider.force_flush()
        cpu1, wall1 = time.process_time(), time.perf_counter()
        answer = {
            "cpu_s": cpu1 - cpu0,
            "wall_s": wall1 - wall0,
            "convert_cpu_s": converting,
            "upload_cpu_s": uploading,
            "flush_cpu_s": cpu1 - flushed,
        }
        if self.variant == OURS:
            answer.update(self._periodic())
        return answer

    def _periodic(self) -> dict[str, float]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        body = self.scrape()
        cpu1, wall1 = time.process_time(), time.perf_counter()
        self._export_metrics()
        cpu2, wall2 = time.process_time(), time.perf_counter()
        self.series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        return {
            "scrape_cpu_s": cpu1 - cpu0,
            "scrape_wall_s": wall1 - wall0,
            "export_cpu_s": cpu2 - cpu1,
            "export_wall_s": wall2 - wall1,
        }

    def scrape(self) -> bytes:
        """GET /metrics as Prometheus does (gzip), through the endpoint's own HTTP server."""
        endpoint = self.telemetry.endpoint
        connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=30)
        try:
            connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        import gzip

        return gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body

    def _export_metrics(self) -> None:
        """What the periodic reader does every export interval: collect and export over OTLP."""
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        provider = self.telemetry.meter_provider
        for reader in provider._metric_readers:
            if isinstance(reader, PeriodicExportingMetricReader):
                reader.collect(timeout_millis=10_000)

    def close(self) -> dict[str, Any]:
        self.client.close()
        facts: dict[str, Any] = {
            "file_bytes": self.templates[0].stat().st_size,
            "report_bytes": self.report_bytes,
            "series": getattr(self, "series", None),
        }
        if self.telemetry is not None:
            self.telemetry.shutdown(timeout_s=10)
            facts["status"] = {
                signal: [
                    {k: e[k] for k in ("name", "exported", "failed", "dropped")}
                    for e in self.telemetry.status()[signal]
                ]
                for signal in ("traces", "metrics", "logs")
            }
        shutil.rmtree(self.workdir, ignore_errors=True)
        return facts


def _reply(out: IO[str], answer: dict[str, Any]) -> None:
    out.write(json.dumps(answer) + "\n")
    out.flush()


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    parser.add_argument("--variant", required=True, choices=WORKERS)
    parser.add_argument("--server", required=True)
    parser.add_argument("--otlp", required=True)
    parser.add_argument("--reports", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    args = parser.parse_args(argv)
    # The protocol runs on stdout: everything else goes to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    station = _Station(args.variant, args.server, args.otlp, args.reports, args.steps)
    for line in sys.stdin:
        command = line.strip()
        if command == "ready":
            _reply(out, {"ready": True})
        elif command == "round":
            _reply(out, station.round())
        elif command == "quit":
            _reply(out, station.close())
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(worker_main(sys.argv[1:]))
