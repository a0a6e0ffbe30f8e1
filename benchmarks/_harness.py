"""Interleaved timing: every variant of a case runs once per round, in rotating order.

Machines here are noisy, so absolute times mean little between runs; what is reported are
medians over rounds, the spread (interquartile range) and ratios to the baseline variant of the
same case, all measured in the same process and the same minutes.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Operation = Callable[[], object]


@dataclass
class CaseResult:
    case: str
    unit: str
    baseline: str
    #: variant -> per-round cost in `unit`
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: str = ""

    def median(self, variant: str) -> float:
        return statistics.median(self.samples[variant])

    def iqr(self, variant: str) -> float:
        values = sorted(self.samples[variant])
        if len(values) < 4:
            return max(values) - min(values)
        quartiles = statistics.quantiles(values, n=4)
        return quartiles[2] - quartiles[0]

    def ratio(self, variant: str) -> float:
        """Median over rounds of (variant / baseline) within the same round."""
        pairs = zip(self.samples[variant], self.samples[self.baseline], strict=True)
        return statistics.median(v / b for v, b in pairs if b > 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "unit": self.unit,
            "baseline": self.baseline,
            "notes": self.notes,
            "variants": {
                name: {
                    "median": self.median(name),
                    "iqr": self.iqr(name),
                    "ratio_to_baseline": self.ratio(name),
                    "samples": values,
                }
                for name, values in self.samples.items()
            },
        }


def per_op_us(operation: Operation, ops: int) -> float:
    """Microseconds per call of ``operation`` over ``ops`` calls (GC off during the loop)."""
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        for _ in range(ops):
            operation()
        elapsed = time.perf_counter_ns() - started
    finally:
        if gc_was_on:
            gc.enable()
    return elapsed / ops / 1000.0


def interleave(
    case: str,
    variants: dict[str, Operation],
    *,
    baseline: str,
    ops: int,
    rounds: int,
    warmup_ops: int = 200,
    notes: str = "",
) -> CaseResult:
    """Time each variant once per round, rotating which goes first."""
    for operation in variants.values():
        for _ in range(warmup_ops):
            operation()
    result = CaseResult(case, "µs/op", baseline, {name: [] for name in variants}, notes)
    names = list(variants)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            result.samples[name].append(per_op_us(variants[name], ops))
    return result


def write_results(results: list[CaseResult], folder: Path, meta: dict[str, Any]) -> Path:
    """Write results.json (raw samples) and results.md (the table) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(
        json.dumps({"meta": meta, "cases": [r.as_dict() for r in results]}, indent=2)
    )
    lines = [
        "| case | variant | median | IQR | ratio to baseline |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for name in result.samples:
            marker = " (baseline)" if name == result.baseline else ""
            lines.append(
                f"| {result.case} | {name}{marker} | {result.median(name):.2f} {result.unit} "
                f"| {result.iqr(name):.2f} | {result.ratio(name):.3f} |"
            )
    notes = [f"- {r.case}: {r.notes}" for r in results if r.notes]
    header = [
        "# Benchmark results",
        "",
        f"Python {meta['python']}, {meta['rounds']} interleaved rounds per case; medians.",
        "",
    ]
    table = folder / "results.md"
    footer = ["", *notes] if notes else []
    table.write_text("\n".join([*header, *lines, *footer]) + "\n")
    return table
