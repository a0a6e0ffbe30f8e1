"""CPU instructions per span, counted by valgrind's callgrind: the bare SDK, the bare SDK with
one more span processor that does nothing, and pywats_otel's span pipeline with /traces off
and on (fed by its batch processor, as init_telemetry() builds it).

    python -m benchmarks.span_instructions [--spans 10000]

Instruction counts do not depend on what else the machine is doing, unlike timings on a shared
machine. Each variant runs twice in its own interpreter, with 2,000 spans and with 2,000 +
``--spans``; the difference divided by ``--spans`` is the cost of one span, free of the
interpreter's start-up and imports. Spans have two attributes and go to a batch processor
whose exporter does nothing. The counts include the batch processor's worker thread, whose
share varies a little from run to run. Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

_SCRIPT = r"""
import sys
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pywats_otel._pipeline.export import (
    CountingBatchSpanProcessor, CountingSpanExporter, ExportStats)
from pywats_otel._pipeline.recent_traces import RecentTraces

class Null(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS
    def shutdown(self): pass

variant, count = sys.argv[1], int(sys.argv[2])
provider = TracerProvider(shutdown_on_exit=False)
if variant.startswith("pywats_otel"):
    stats = ExportStats("traces", "null", "null")
    processor = CountingBatchSpanProcessor(
        CountingSpanExporter(Null(), stats), stats, max_queue_size=1_000_000)
    if variant.endswith("on"):
        processor.feed(RecentTraces())
    provider.add_span_processor(processor)
else:
    if variant == "bare SDK + an empty processor":
        provider.add_span_processor(SpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(Null(), max_queue_size=1_000_000))
tracer = provider.get_tracer("bench")
attributes = {"pywats.converter.name": "csv", "pywats.converter.status": "success"}
for _ in range(count):
    with tracer.start_as_current_span("convert csv", attributes=attributes):
        pass
provider.shutdown()
"""

VARIANTS = (
    "bare SDK",
    "bare SDK + an empty processor",
    "pywats_otel's span pipeline, /traces off",
    "pywats_otel's span pipeline, /traces on",
)
BASE = 2000


def _instructions(valgrind: str, variant: str, count: int, folder: str) -> int:
    out = os.path.join(folder, "callgrind.out")
    done = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            _SCRIPT,
            variant,
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in callgrind's output: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.span_instructions")
    parser.add_argument("--spans", type=int, default=10_000, help="spans counted (10000)")
    args = parser.parse_args()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 1
    per_span: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for variant in VARIANTS:
            low = _instructions(valgrind, variant, BASE, folder)
            high = _instructions(valgrind, variant, BASE + args.spans, folder)
            per_span[variant] = (high - low) / args.spans
    bare = per_span["bare SDK"]
    print("| variant | instructions per span | over the bare SDK |")
    print("|---|---|---|")
    for variant in VARIANTS:
        extra = per_span[variant] - bare
        share = 100 * extra / bare
        print(f"| {variant} | {per_span[variant]:,.0f} | {extra:+,.0f} ({share:+.1f} %) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
