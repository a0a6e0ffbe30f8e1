"""The station process of the pipeline case: ``python -m benchmarks.pipeline._station
--variant V ...`` converts, queues and uploads one round of reports per ``round`` command on
stdin and answers each command with one JSON line on stdout (see ``per_report``)."""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from benchmarks._harness import sample_lines

REMOVED = "no telemetry (instrumentation removed)"
NOT_INIT = "no telemetry (not initialised)"
OURS = "pywats_otel (Prometheus + OTLP)"
OURS_SAMPLED = "pywats_otel, 10 % of traces sampled"
WORKERS = (REMOVED, NOT_INIT, OURS, OURS_SAMPLED)


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

    def count_run(self, count: int) -> None:
        """The instruction-count method's run: two warm-up reports, then ``count`` reports
        with the GC's full passes held (one collection at the end), no flush between them."""
        template = self.templates[0]

        def report(index: int) -> None:
            target = self.inbox / f"count-{index:06d}.xml"
            shutil.copyfile(template, target)
            self._convert(target)
            self._upload()

        for index in range(2):
            report(index)
        thresholds = gc.get_threshold()
        gc.collect()
        gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
        for index in range(count):
            report(2 + index)
        gc.collect()
        gc.set_threshold(*thresholds)

    def _periodic(self) -> dict[str, float]:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        body = self.scrape()
        cpu1, wall1 = time.process_time(), time.perf_counter()
        self._export_metrics()
        cpu2, wall2 = time.process_time(), time.perf_counter()
        self.series = sample_lines(body)
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline._station")
    parser.add_argument("--variant", required=True, choices=WORKERS)
    parser.add_argument("--server", required=True)
    parser.add_argument("--otlp", required=True)
    parser.add_argument("--reports", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--count", type=int, default=None, help="count mode: N reports, exit")
    args = parser.parse_args(argv)
    # The protocol runs on stdout: everything else goes to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    station = _Station(args.variant, args.server, args.otlp, args.reports, args.steps)
    if args.count is not None:
        station.count_run(args.count)
        _reply(out, station.close())
        return 0
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
