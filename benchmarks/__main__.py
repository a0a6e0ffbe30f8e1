"""Run every benchmark and write results/results.md and results/results.json.

python -m benchmarks [--rounds N] [--quick] [--out results]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from benchmarks import bench_core, bench_instrumentation, bench_logging, bench_system
from benchmarks._harness import write_results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke test")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    results = bench_core.run(rounds=rounds, quick=args.quick)
    results += bench_logging.run(rounds=rounds, quick=args.quick)
    results += bench_system.run(rounds=rounds, quick=args.quick)
    results += bench_instrumentation.run(rounds=rounds, quick=args.quick)
    table = write_results(
        results,
        args.out,
        {"python": platform.python_version(), "rounds": rounds, "machine": platform.machine()},
    )
    sys.stdout.write(table.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
