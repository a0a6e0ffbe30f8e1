"""The /metrics scrape of a station that puts 10,000 serial numbers on its converter metrics,
without a cardinality limit (``metric_cardinality_limit=0``, what opentelemetry-sdk 1.45 does
alone) and with the default limit of 2,000 series per metric.

    python -m benchmarks.cardinality_scrape [--serials 10000] [--scrapes 5]

Each case runs in its own interpreter (OpenTelemetry's providers are set once per process).
Per case: the series served, the size of the scrape (plain and gzipped) and the median and
slowest of ``--scrapes`` GET /metrics over a kept-alive connection on 127.0.0.1. Then the cost
of the limit on the hot path: ``Counter.add()`` on an existing series with the SDK's own
``consume_measurement`` and with pywats_otel's, alternating, median of 15 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CASE = r"""
import gzip, json, statistics, sys, time
import httpx
from pywats_otel import converter, init_telemetry, semconv

limit, serials, scrapes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0,
                           metric_cardinality_limit=limit, instrumentations="none")
instruments = converter._instruments.get()
for index in range(serials):
    attributes = {semconv.CONVERTER_NAME: "csv", semconv.CONVERTER_STATUS: "success",
                  "serial": f"SN{index:08d}"}
    instruments.executions.add(1, attributes)
    instruments.duration.record(0.02, attributes)
times = []
with httpx.Client(timeout=120) as client:
    for _ in range(scrapes):
        started = time.perf_counter()
        body = client.get(telemetry.metrics_url).content
        times.append(time.perf_counter() - started)
lines = body.decode().splitlines()
print(json.dumps({
    "limit": limit,
    "serials": serials,
    "series": sum(1 for line in lines if line.startswith("pywats_converter_executions_total{")),
    "samples": sum(1 for line in lines if line and not line.startswith("#")),
    "bytes": len(body),
    "gzip_bytes": len(gzip.compress(body)),
    "median_s": statistics.median(times),
    "max_s": max(times),
}))
telemetry.shutdown(timeout_s=2)
"""


_HOT_PATH = r"""
import json, statistics, timeit
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim
from pywats_otel._pipeline import cardinality

sdk = vim._ViewInstrumentMatch.consume_measurement
reader = InMemoryMetricReader()
counter = MeterProvider(metric_readers=[reader]).get_meter("bench").create_counter("c")
cardinality.install()
cardinality.register_reader(reader, 2000, "memory")
limited = vim._ViewInstrumentMatch.consume_measurement
attributes = {"pywats.queue.name": "reports", "pywats.queue.outcome": "success"}
times = {"sdk": [], "limited": []}
for _ in range(15):
    for name, method in (("sdk", sdk), ("limited", limited)):
        vim._ViewInstrumentMatch.consume_measurement = method
        best = min(timeit.repeat(lambda: counter.add(1, attributes), number=20000, repeat=3))
        times[name].append(best / 20000)
print(json.dumps({name: statistics.median(values) for name, values in times.items()}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cardinality_scrape")
    parser.add_argument("--serials", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    rows = []
    for limit in (0, 2000):
        out = subprocess.run(
            [sys.executable, "-c", _CASE, str(limit), str(args.serials), str(args.scrapes)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=900,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{args.serials:,} serial numbers on pywats.converter.executions and "
        "pywats.converter.duration; median and slowest of "
        f"{args.scrapes} scrapes"
    )
    print()
    print(
        "| metric_cardinality_limit | series per metric | samples | scrape | gzipped "
        "| median | slowest |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['limit'] or '0 (no limit)'} | {row['series']:,} | {row['samples']:,} "
            f"| {row['bytes'] / 1e6:.1f} MB | {row['gzip_bytes'] / 1e6:.2f} MB "
            f"| {row['median_s']:.2f} s | {row['max_s']:.2f} s |"
        )
    hot = json.loads(
        subprocess.run(
            [sys.executable, "-c", _HOT_PATH],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=600,
        ).stdout.strip()
    )
    print()
    print(
        f"Counter.add() on an existing series: {hot['sdk'] * 1e6:.2f} µs with the SDK's "
        f"consume_measurement, {hot['limited'] * 1e6:.2f} µs with the limit"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
