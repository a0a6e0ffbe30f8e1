"""The real pyWATS station of the pipeline cases: ``python -m benchmarks.pipeline._pywats_station
--variant V --server URL --otlp URL (--count N | --rounds)``.

Per report, as a station does it with pywats-api's own classes: a 1,011-step ``UUTReport``
built with pywats-api's models (the test run), written as WSJF JSON (about 218 kB), converted by
``WATSStandardJsonConverter``, queued in ``PersistentQueue`` (a ``.wsjf`` and a ``.meta.json``
file), taken out with ``get_next()``/``mark_processing()``, uploaded with
``pyWATS(...).report.submit_report()`` to a fake WATS server in another process, marked
completed and removed from the queue. pyWATS logs to a file through its own
``configure_logging()``.

``--count N`` runs two warm-up reports, then N reports, then exits: the instruction-count
method runs it under valgrind for two values of N (see ``benchmarks._instructions``). The
periodic work is held until exit by the controller's environment (span and log batches on a
schedule of a day, metric export of a day, no scrape), and the garbage collector's full passes
are held during the N reports, with one collection at their end. ``--rounds`` answers a
``round`` command on stdin with one JSON line (CPU and wall time of ``--reports`` reports), as
the demo's station does.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

NONE = "no telemetry"
OURS = "pywats_otel"
OURS_STOCK = "pywats_otel on the stock httpx instrumentor"
VARIANTS = (NONE, OURS, OURS_STOCK)
STEPS = 1011


def build_report(serial: str) -> Any:
    """1 root SequenceCall + 10 SequenceCalls + 1,000 numeric steps, with pywats-api's models."""
    from datetime import datetime

    from pywats.domains.report.report_models import UUTReport
    from pywats.domains.report.report_models.common_types import ReportStatus, StepStatus
    from pywats.shared.enums import CompOp

    report = UUTReport(
        pn="PN-OTEL-1011",
        sn=serial,
        rev="A",
        process_code=10,
        station_name="otel-station-01",
        location="Lab",
        purpose="Debug",
        result=ReportStatus.Passed,
        start=datetime.now().astimezone(),
    )
    root = report.get_root_sequence_call()
    for s in range(10):
        sequence = root.add_sequence_call(
            name=f"Sequence {s:02d}", file_name=f"seq_{s:02d}.py", version="1.0.0", path="tests"
        )
        for i in range(100):
            sequence.add_numeric_step(
                name=f"Seq{s:02d} Measurement {i:03d} rail voltage",
                value=3.3 + i * 1e-4,
                unit="V",
                comp_op=CompOp.GELE,
                low_limit=3.0,
                high_limit=3.6,
                status=StepStatus.Passed,
                tot_time=0.0123,
            )
    return report


class Station:
    def __init__(self, variant: str, server: str, otlp: str) -> None:
        self.variant = variant
        self.workdir = Path(tempfile.mkdtemp(prefix="pywats-otel-bench-pywats-"))
        self.telemetry: Any = None
        if variant != NONE:
            from pywats_otel import init_telemetry

            # Every instrumentation on (httpx, logging, pywats, system, threading), 100 % of
            # traces, traces, metrics and logs over OTLP/gRPC, /metrics served.
            self.telemetry = init_telemetry(
                service_name="bench-pywats-station",
                otlp_endpoint=otlp,
                prometheus_host="127.0.0.1",
                prometheus_port=0,
                disk_paths=str(self.workdir),
                **({"httpx_instrumentation": "stock"} if variant == OURS_STOCK else {}),
            )
        from pywats import pyWATS
        from pywats.core.logging import configure_logging
        from pywats.core.station import Station as WATSStation
        from pywats_client.converters.standard.wats_standard_json_converter import (
            WATSStandardJsonConverter,
        )
        from pywats_client.queue.persistent_queue import PersistentQueue

        configure_logging(level="INFO", file_path=self.workdir / "station.log")
        self.inbox = self.workdir / "inbox"
        self.inbox.mkdir()
        self.converter = WATSStandardJsonConverter()
        self.queue = PersistentQueue(self.workdir / "queue")
        self.api = pyWATS(
            base_url=server,
            token="c3RhdGlvbjpzZWNyZXQ=",
            station=WATSStation(name="otel-station-01", location="Lab", purpose="Debug"),
        )
        self.reports = 0
        self.wire_bytes = 0

    def report(self) -> None:
        from pywats_client.converters.context import ConverterContext
        from pywats_client.converters.models import ConverterSource

        self.reports += 1
        report = build_report(f"SN-{self.reports:06d}")
        path = self.inbox / f"uut-{self.reports:06d}.json"
        wsjf = json.dumps(report.model_dump(mode="json", by_alias=True, exclude_none=True))
        self.wire_bytes = len(wsjf)
        path.write_text(wsjf, encoding="utf-8")
        result = self.converter.convert(ConverterSource.from_file(path), ConverterContext())
        if result.report is None:
            raise RuntimeError(f"conversion of {path.name}: {result.status}")
        self.queue.add(result.report, metadata={"file": path.name})
        path.unlink()
        item = self.queue.get_next()
        if item is None:
            raise RuntimeError("the queue is empty after a conversion")
        item.mark_processing()
        self.queue.update(item)
        if not self.api.report.submit_report(item.data):
            raise RuntimeError("the upload returned no report ID")
        item.mark_completed()
        self.queue.update(item)
        self.queue.remove(item.id)

    def round(self, reports: int) -> dict[str, float]:
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(reports):
            self.report()
        if self.telemetry is not None:
            self.telemetry.tracer_provider.force_flush()
        return {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0}

    def close(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"wire_bytes": self.wire_bytes, "reports": self.reports}
        self.api.close()
        if self.telemetry is not None:
            self.telemetry.shutdown(timeout_s=30)
            facts["exported"] = {
                signal: sum(e["exported"] for e in self.telemetry.status()[signal])
                for signal in ("traces", "logs")
            }
            facts["dropped"] = sum(e["dropped"] for e in self.telemetry.status()["traces"])
        shutil.rmtree(self.workdir, ignore_errors=True)
        return facts


def count_main(station: Station, count: int, out: IO[str]) -> None:
    for _ in range(2):
        station.report()  # warm-up: imports, connections, caches
    # The GC's full passes held while the reports run (young collections go on), one at the end.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
    for _ in range(count):
        station.report()
    gc.collect()
    gc.set_threshold(*thresholds)
    out.write(json.dumps(station.close()) + "\n")
    out.flush()


def rounds_main(station: Station, reports: int, out: IO[str]) -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == "ready":
            answer: dict[str, Any] = {"ready": True}
        elif command == "round":
            answer = station.round(reports)
        elif command == "quit":
            answer = station.close()
        else:
            continue
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if command == "quit":
            return


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline._pywats_station")
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--server", required=True)
    parser.add_argument("--otlp", required=True)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--reports", type=int, default=5)
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr
    station = Station(args.variant, args.server, args.otlp)
    if args.count is not None:
        count_main(station, args.count, out)
    else:
        rounds_main(station, args.reports, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
