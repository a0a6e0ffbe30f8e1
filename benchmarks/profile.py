"""Profiles behind the benchmark figures: where the time of one kind of operation goes.

python -m benchmarks.profile {httpx,queue,export,scrape} [--seconds S]

Each target runs its operation in a loop under pyinstrument (a sampling profiler, installed
with the ``bench`` extra) and prints the call tree, pywats_otel's frames beside the SDK's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import _setups, _sink
from benchmarks.micro._operations import queue_api
from benchmarks.micro.httpx_requests import _SERVER
from benchmarks.micro.otlp_export import _pipeline_spans


@contextmanager
def _httpx_target() -> Iterator[Callable[[], object]]:
    import httpx

    ours = _setups.PywatsOtel(instrumentations="httpx")
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    client = httpx.Client()
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/upload?station=7"
        yield lambda: client.get(url)
    finally:
        client.close()
        server.terminate()
        server.wait(5)
        ours.shutdown()


@contextmanager
def _queue_target() -> Iterator[Callable[[], object]]:
    ours = _setups.PywatsOtel()
    try:
        yield queue_api
    finally:
        ours.shutdown()


@contextmanager
def _export_target() -> Iterator[Callable[[], object]]:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "000001-SN0000001.xml")
        Path(path).write_text("<TestRun/>\n")
        spans = _pipeline_spans(512, path)
    sink, endpoint = _sink.start()
    try:
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
        yield lambda: exporter.export(spans)
        exporter.shutdown()
    finally:
        sink.kill()
        sink.wait(5)


@contextmanager
def _scrape_target() -> Iterator[Callable[[], object]]:
    from benchmarks.scale.scrape import _fill, _Series

    ours = _setups.PywatsOtel(traces_exporter="none")
    try:
        series = _Series()
        _fill(series, 5000)
        endpoint = ours.telemetry.endpoint
        assert endpoint is not None
        yield lambda: endpoint.render_metrics("text/plain", "gzip")
    finally:
        ours.shutdown()


TARGETS = {
    "httpx": _httpx_target,
    "queue": _queue_target,
    "export": _export_target,
    "scrape": _scrape_target,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to sample")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    with TARGETS[args.target]() as operation:
        for _ in range(50):  # warm-up: caches, connections
            operation()
        profiler = Profiler(interval=0.0001)
        calls = 0
        profiler.start()
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            operation()
            calls += 1
        profiler.stop()
    sys.stdout.write(f"{args.target}: {calls} calls\n")
    # OpenTelemetry's frames and ours stay visible; other libraries' are folded.
    text = profiler.output_text(
        unicode=False,
        color=False,
        show_all=False,
        processor_options={
            "show_regex": r".*(opentelemetry|pywats_otel|benchmarks).*",
            "filter_threshold": 0.01,
        },
    )
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
