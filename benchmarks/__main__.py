"""Run the benchmarks and write results/results.md (the tables) and results/results.json (the
raw figures): Instruction counts, Micro, Pipeline and Scale, in that order.

python -m benchmarks [--rounds N] [--quick] [--out results] [--only counts,micro,pipeline,scale]
                     [--pipeline-rounds N] [--pipeline-reports N] [--scale-reports N]
                     [--count-repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks._harness import SECTIONS, CaseResult, environment, write_results
from benchmarks._registry import run_section


def _sections(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}"
        )
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case")
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds and small counts: a smoke test"
    )
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder of the results")
    parser.add_argument(
        "--only", type=_sections, default=list(SECTIONS), help="comma list of sections to run"
    )
    parser.add_argument(
        "--pipeline-rounds",
        type=int,
        default=None,
        help="rounds of the pipeline (default 4 x --rounds: short rounds pair up better)",
    )
    parser.add_argument(
        "--pipeline-reports",
        type=int,
        default=None,
        help="reports per pipeline round (default 20; 5 with --quick)",
    )
    parser.add_argument(
        "--scale-reports",
        type=int,
        default=None,
        help="reports of the memory case (default 100,000; 2,000 with --quick)",
    )
    parser.add_argument(
        "--count-repeats",
        type=int,
        default=None,
        help="pairs of valgrind runs per station variant in the counts section (default 2)",
    )
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    meta = environment(rounds, args.quick)
    results: list[CaseResult] = []
    started = time.monotonic()
    for section in SECTIONS:
        if section not in args.only:
            continue
        section_started = time.monotonic()
        # The section's case modules, in their ORDER (benchmarks._registry); each section
        # takes the options that are its own (see its package's Context).
        results += run_section(
            section,
            rounds,
            args.quick,
            pipeline_rounds=args.pipeline_rounds,
            pipeline_reports=args.pipeline_reports,
            scale_reports=args.scale_reports,
            count_repeats=args.count_repeats,
        )
        sys.stderr.write(f"benchmarks: {section} took {time.monotonic() - section_started:.0f} s\n")
    meta["duration_s"] = round(time.monotonic() - started, 1)
    table = write_results(results, args.out, meta)
    sys.stdout.write(table.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
