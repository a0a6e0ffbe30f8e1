"""An OTLP/gRPC sink on 127.0.0.1 for long benchmark runs: it answers every export with an
empty success and only counts requests and bytes, without decoding or keeping anything.

Run as ``python -m benchmarks._sink``: prints its endpoint, serves until stdin closes, then
prints the counts as JSON. (pywats_otel.testing.otlp.OTLPReceiver decodes and keeps every span,
which 100,000 reports would turn into gigabytes.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

_SERVICES = (
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
)


def start() -> tuple[subprocess.Popen[str], str]:
    """Start the sink in a process of its own; (the process, its OTLP/gRPC endpoint).

    Close its stdin to stop it; it then prints the counts as JSON on stdout.
    """
    sink = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert sink.stdout is not None
    return sink, sink.stdout.readline().strip()


def main() -> None:
    lock = threading.Lock()
    counts: dict[str, int] = {"requests": 0, "bytes": 0}

    def export(request: bytes, context: Any) -> bytes:
        with lock:
            counts["requests"] += 1
            counts["bytes"] += len(request)
        # An empty Export*ServiceResponse is zero bytes on the wire.
        return b""

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    for service in _SERVICES:
        # No (de)serializers: requests arrive as bytes and the answer goes out as given.
        handler = grpc.unary_unary_rpc_method_handler(export)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
        )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"http://127.0.0.1:{port}", flush=True)
    sys.stdin.read()
    server.stop(grace=1).wait(5)
    with lock:
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
