"""An idle pyWATS station: ``python -m benchmarks.scale._idle_station --variant V --otlp URL``.

It imports pywats-api, opens its PersistentQueue and waits, as a station between two tests
does. ``pywats_otel``: init_telemetry() as a station with a collector runs it (traces, metrics
and logs over OTLP/gRPC, metrics exported every minute, /metrics served, the process, system
and health metrics, every instrumentation); ``pywats_otel, OTLP over HTTP`` the same with
``otlp_protocol=http/protobuf``. It prints its /metrics port (0 without telemetry)
and answers on stdin: ``cpu`` (its CPU time so far, all threads, and per thread) and ``quit``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NONE = "no telemetry"
OURS = "pywats_otel"
OURS_HTTP = "pywats_otel, OTLP over HTTP"
VARIANTS = (NONE, OURS, OURS_HTTP)


def _threads() -> dict[str, float]:
    """CPU seconds of each live thread, by its Python name (native threads by their id)."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        name = names.get(int(task.name), f"native {comm}")
        found[name] = found.get(name, 0.0) + seconds
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale._idle_station")
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--otlp", required=True, help="the collector (gRPC)")
    parser.add_argument("--otlp-http", default="", help="the collector (OTLP/HTTP)")
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr
    folder = Path(tempfile.mkdtemp(prefix="pywats-otel-idle-"))
    telemetry: Any = None
    if args.variant != NONE:
        from pywats_otel import init_telemetry

        telemetry = init_telemetry(
            service_name="bench-idle-station",
            otlp_endpoint=args.otlp_http if args.variant == OURS_HTTP else args.otlp,
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            disk_paths=str(folder),
            otlp_protocol="http/protobuf" if args.variant == OURS_HTTP else "grpc",
        )
    from pywats.core.logging import configure_logging
    from pywats_client.queue.persistent_queue import PersistentQueue

    configure_logging(level="INFO", file_path=folder / "station.log")
    queue = PersistentQueue(folder / "queue")
    port = telemetry.endpoint.port if telemetry is not None and telemetry.endpoint else 0
    out.write(f"{port}\n")
    out.flush()
    started = time.process_time()
    for line in sys.stdin:
        command = line.strip()
        if command == "cpu":
            answer = {"cpu_s": time.process_time() - started, "threads": _threads()}
            out.write(json.dumps(answer) + "\n")
            out.flush()
        elif command == "quit":
            break
    del queue
    if telemetry is not None:
        telemetry.shutdown(timeout_s=10)
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
