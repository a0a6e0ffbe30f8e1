"""The caller's span latency while the collector is healthy, refusing, or hanging; how long
``shutdown(timeout_s=3)`` takes then, what it returns, and whether every span produced is
accounted for as exported, failed or dropped.

    python -m benchmarks.dead_collector [--seconds 3]

Each case runs in its own interpreter (OpenTelemetry's providers are set once per process).
Medians and p99 of single span start+end calls, not interleaved: a check that a dead collector
never reaches the caller, not a comparison to quote as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_CASE = r"""
import json, os, sys, time
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "100"
from opentelemetry import trace
from pywats_otel import init_telemetry
from pywats_otel.testing.otlp import BlackHole, OTLPReceiver, free_port

collector, protocol, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
peer = None
if collector == "healthy":
    peer = OTLPReceiver(protocol).start()
    endpoint = peer.endpoint
elif collector == "black-hole":
    peer = BlackHole()
    endpoint = peer.endpoint
else:
    endpoint = f"http://127.0.0.1:{free_port()}"
telemetry = init_telemetry(otlp_endpoint=endpoint, otlp_protocol=protocol,
                           prometheus_host="127.0.0.1", prometheus_port=0,
                           metrics_exporter="otlp", metric_export_interval=200)
tracer = trace.get_tracer("bench")
latencies = []
started = time.perf_counter()
while time.perf_counter() - started < seconds:
    t = time.perf_counter()
    with tracer.start_as_current_span("work"):
        pass
    latencies.append(time.perf_counter() - t)
latencies.sort()
shutdown_started = time.monotonic()
clean = telemetry.shutdown(timeout_s=3)
[traces] = telemetry.status()["traces"]
print(json.dumps({
    "clean": clean,
    "accounted": traces["exported"] + traces["failed"] + traces["dropped"],
    "left_behind": traces["left_behind"],
    "collector": collector, "protocol": protocol, "spans": len(latencies),
    "median_us": latencies[len(latencies) // 2] * 1e6,
    "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
    "shutdown_s": time.monotonic() - shutdown_started,
}))
if peer is not None:
    (peer.stop if collector == "healthy" else peer.close)()
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dead_collector")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows = []
    for collector in ("healthy", "closed-port", "black-hole"):
        for protocol in ("grpc", "http/protobuf"):
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))
            }
            out = subprocess.run(
                [sys.executable, "-c", _CASE, collector, protocol, str(args.seconds)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                timeout=120,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            time.sleep(0.5)
    print(
        "| collector | protocol | spans | median span | p99 span | shutdown(timeout_s=3) "
        "| its result | exported + failed + dropped | left behind |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['collector']} | {row['protocol']} | {row['spans']} "
            f"| {row['median_us']:.1f} µs | {row['p99_us']:.1f} µs | {row['shutdown_s']:.2f} s "
            f"| {row['clean']} | {row['accounted']} | {row['left_behind']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
