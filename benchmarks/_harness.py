"""Interleaved timing and the results files: every variant of a case runs once per round, in
rotating order, and ratios are taken between variants of the same round.

Machines here are noisy, so absolute times mean little between runs; what is reported are
medians over rounds, the spread (interquartile range, IQR) and ratios within a round.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Operation = Callable[[], object]
#: A variant that needs a process-wide set-up (an instrumentor): (set up -> undo, operation).
SetUpOperation = tuple[Callable[[], Callable[[], None]], Operation]

#: The folder of the project (the benchmarks' subprocesses start there).
ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("counts", "micro", "pipeline", "scale")
_TITLES = {
    "counts": "Instruction counts",
    "micro": "Micro",
    "pipeline": "Pipeline",
    "scale": "Scale",
}


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile); the range stands in for fewer than 4 values."""
    ordered = sorted(values)
    if not ordered:
        return (float("nan"),) * 3
    if len(ordered) < 4:
        return ordered[0], statistics.median(ordered), ordered[-1]
    q1, q2, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, q2, q3


def iqr(values: Sequence[float]) -> float:
    low, _, high = quartiles(values)
    return high - low


@dataclass
class Comparison:
    """A figure taken round by round from two (or three) variants of one case.

    ``kind``:
    - ``ratio``: variant / reference;
    - ``overhead``: (variant / reference - 1) in percent;
    - ``share``: (variant - reference) / (reference - base) in percent: the variant's extra
      cost as a share of the reference's own overhead over ``base``;
    - ``overhead ratio``: (variant - base) / (reference - base): the variant's overhead over
      ``base`` beside the reference's;
    - ``difference``: variant - reference, in the case's unit.
    ``goal`` is the upper bound the figure should stay under (a budget goal, reported, not
    asserted).
    """

    label: str
    variant: str
    reference: str
    kind: Literal["ratio", "overhead", "share", "overhead ratio", "difference"] = "ratio"
    base: str | None = None
    goal: float | None = None
    goal_text: str = ""

    def per_round(self, samples: dict[str, list[float]]) -> list[float]:
        values: list[float] = []
        rows: Iterable[tuple[float, ...]]
        if self.kind in ("share", "overhead ratio"):
            assert self.base is not None
            rows = zip(
                samples[self.variant], samples[self.reference], samples[self.base], strict=True
            )
            for v, r, b in rows:
                if r > b:
                    share = (v - r) / (r - b)
                    values.append(100.0 * share if self.kind == "share" else 1.0 + share)
            return values
        if self.kind == "difference":
            return [
                v - r for v, r in zip(samples[self.variant], samples[self.reference], strict=True)
            ]
        for v, r in zip(samples[self.variant], samples[self.reference], strict=True):
            if r > 0:
                values.append(v / r if self.kind == "ratio" else 100.0 * (v / r - 1.0))
        return values

    def summary(self, samples: dict[str, list[float]]) -> dict[str, Any]:
        values = self.per_round(samples)
        low, median, high = quartiles(values)
        met = None if self.goal is None or not values else median <= self.goal
        return {
            "label": self.label,
            "kind": self.kind,
            "variant": self.variant,
            "reference": self.reference,
            "base": self.base,
            "median": median,
            "q1": low,
            "q3": high,
            "iqr": high - low,
            "goal": self.goal,
            "goal_text": self.goal_text,
            "met": met,
            "per_round": values,
        }

    def format(self, samples: dict[str, list[float]]) -> str:
        info = self.summary(samples)
        if self.kind in ("ratio", "overhead ratio"):
            return f"{info['median']:.3f} (IQR {info['iqr']:.3f})"
        if self.kind == "difference":
            return f"{info['median']:+.1f} (IQR {info['iqr']:.1f})"
        return f"{info['median']:+.2f} % (IQR {info['iqr']:.2f})"


@dataclass
class Check:
    """A budget goal that is a fact rather than a timing (which modules an import loads)."""

    label: str
    measured: str
    goal_text: str
    met: bool


@dataclass
class CaseResult:
    section: str
    case: str
    unit: str
    baseline: str
    #: variant -> per-round cost in ``unit``
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: variant -> why it does not apply to this case (shown as n/a)
    not_applicable: dict[str, str] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    #: Figures of the case beyond the samples (counts, sizes), kept in results.json.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Variants whose ratio to the baseline means nothing (a different quantity).
    no_ratio: frozenset[str] = frozenset()
    #: Markdown lines shown after the section's notes (a table that sets cases side by side).
    tables: list[str] = field(default_factory=list)

    def median(self, variant: str) -> float:
        return statistics.median(self.samples[variant])

    def iqr(self, variant: str) -> float:
        return iqr(self.samples[variant])

    def ratio(self, variant: str) -> float:
        """Median over rounds of (variant / baseline) within the same round."""
        pairs = zip(self.samples[variant], self.samples[self.baseline], strict=True)
        return statistics.median(v / b for v, b in pairs if b > 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "case": self.case,
            "unit": self.unit,
            "baseline": self.baseline,
            "notes": self.notes,
            "not_applicable": self.not_applicable,
            "variants": {
                name: {
                    "median": self.median(name),
                    "iqr": self.iqr(name),
                    "ratio_to_baseline": None if name in self.no_ratio else self.ratio(name),
                    "samples": values,
                }
                for name, values in self.samples.items()
            },
            "comparisons": [c.summary(self.samples) for c in self.comparisons],
            "checks": [vars(check) for check in self.checks],
            "extra": self.extra,
            "tables": self.tables,
        }


# -- timing -------------------------------------------------------------------------------------


def per_op_us(operation: Operation, ops: int) -> float:
    """Microseconds per call of ``operation`` over ``ops`` calls (GC off during the loop, as
    timeit does, so that a collection does not land in one variant's round by chance)."""
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


def rotations(names: Sequence[str], rounds: int) -> Iterable[list[str]]:
    """The order of the variants in each round: each goes first in turn."""
    for index in range(rounds):
        shift = index % len(names)
        yield [*names[shift:], *names[:shift]]


def interleave(
    section: str,
    case: str,
    variants: dict[str, Operation],
    *,
    baseline: str,
    ops: int,
    rounds: int,
    warmup_ops: int = 200,
) -> CaseResult:
    """Time each variant once per round, rotating which goes first."""
    for operation in variants.values():
        for _ in range(warmup_ops):
            operation()
    result = CaseResult(section, case, "µs/op", baseline, {name: [] for name in variants})
    for order in rotations(list(variants), rounds):
        for name in order:
            gc.collect()
            result.samples[name].append(per_op_us(variants[name], ops))
    return result


def interleave_with_setup(
    section: str,
    case: str,
    variants: dict[str, SetUpOperation],
    *,
    baseline: str,
    ops: int,
    rounds: int,
    warmup_ops: int = 50,
) -> CaseResult:
    """Like ``interleave``, for variants that need a global set-up (undone after each batch)."""
    result = CaseResult(section, case, "µs/op", baseline, {name: [] for name in variants})
    for setup, operation in variants.values():
        undo = setup()
        try:
            for _ in range(warmup_ops):
                operation()
        finally:
            undo()
    for order in rotations(list(variants), rounds):
        for name in order:
            setup, operation = variants[name]
            undo = setup()
            try:
                gc.collect()
                result.samples[name].append(per_op_us(operation, ops))
            finally:
                undo()
    return result


def sample_lines(body: bytes) -> int:
    """The samples (not comments, not blank lines) of a Prometheus text exposition."""
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def clean_env(bytecode_cache: Path | None = None) -> dict[str, str]:
    """This process's environment without OTEL_* and PYWATS_OTEL_* variables.

    With ``bytecode_cache``, compiled modules are kept there (PYTHONPYCACHEPREFIX), as an
    installed package has them, even where PYTHONDONTWRITEBYTECODE is set: otherwise every
    import of an editable install compiles its sources again.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    if bytecode_cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


class Helper:
    """A helper process of this Python (a station, a fake server), started in the project's
    folder without OTEL_* variables and spoken to a line at a time.

    With ``first_line`` it has printed one line when ready (its URL, its port): ``line``.
    ``ask(command)`` sends a command and reads one JSON answer; ``close()`` ends its stdin
    (after a last command, if given), waits, and returns what it printed meanwhile.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        name: str,
        first_line: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=clean_env() if env is None else env,
        )
        self.line = ""
        if first_line:
            self.line = self._read().strip()

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited ({self.process.wait(10)})")
        return line

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._read())
        return answer

    def close(self, command: str | None = None, timeout_s: float = 30) -> str:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            if command is not None:
                stdin.write(command + "\n")
            stdin.close()
            rest = stdout.read()
            self.process.wait(timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)
            rest = ""
        return rest.strip()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


def run_python(
    code: str,
    *,
    cwd: Path | None = None,
    timeout: float = 600,
    bytecode_cache: Path | None = None,
    options: Sequence[str] = (),
) -> str:
    """Run ``code`` in a fresh interpreter of this Python; its stdout."""
    env = clean_env(bytecode_cache)
    done = subprocess.run(
        [sys.executable, *options, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


# -- the results files --------------------------------------------------------------------------


def environment(rounds: int, quick: bool) -> dict[str, Any]:
    """What the figures were measured on: versions, machine, load, commit."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "rounds": rounds,
        "quick": quick,
        "versions": {
            name: version(name)
            for name in (
                "pywats-otel",
                "opentelemetry-sdk",
                "opentelemetry-instrumentation-httpx",
                "opentelemetry-exporter-prometheus",
                "prometheus_client",
                "httpx",
                "grpcio",
            )
        },
    }


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _budget_rows(results: list[CaseResult]) -> list[str]:
    rows = []
    for result in results:
        for comparison in result.comparisons:
            if comparison.goal is None:
                continue
            info = comparison.summary(result.samples)
            met = {True: "yes", False: "**no**", None: "n/a"}[info["met"]]
            rows.append(
                f"| {_cell(comparison.label)} | {comparison.format(result.samples)} "
                f"| {_cell(comparison.goal_text)} | {met} |"
            )
        for check in result.checks:
            met = "yes" if check.met else "**no**"
            rows.append(
                f"| {_cell(check.label)} | {_cell(check.measured)} | {_cell(check.goal_text)} "
                f"| {met} |"
            )
    return rows


def render_markdown(results: list[CaseResult], meta: dict[str, Any]) -> str:
    """The results as Markdown: the budget, then one table per section."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    load = meta.get("load_average")
    lines = [
        "# Benchmark results",
        "",
        f"{meta['date']}, commit {meta['commit']}; Python {meta['python']} "
        f"({meta['implementation']}) on {meta['platform']}, {meta['cpus']} CPUs"
        + (f", load average {load[0]:.2f} at the start" if load else "")
        + f"; {meta['rounds']} interleaved rounds per case"
        + (" (--quick: a smoke test, the figures mean little)" if meta["quick"] else "")
        + ".",
        "",
        f"Versions: {versions}.",
        "",
        "Medians over rounds; IQR = interquartile range over rounds; ratios are medians of the "
        "per-round ratios (both variants measured in the same round).",
        "",
    ]
    budget = _budget_rows(results)
    if budget:
        lines += [
            "## Budget",
            "",
            "| goal | measured (median, IQR over rounds) | target | met |",
            "|---|---|---|---|",
            *budget,
            "",
        ]
    for section in SECTIONS:
        cases = [r for r in results if r.section == section]
        if not cases:
            continue
        lines += [
            f"## {_TITLES[section]}",
            "",
            "| case | variant | median | IQR | ratio to baseline |",
            "|---|---|---|---|---|",
        ]
        for result in cases:
            for name in result.samples:
                marker = " (baseline)" if name == result.baseline else ""
                ratio = "" if name in result.no_ratio else f"{result.ratio(name):.3f}"
                lines.append(
                    f"| {_cell(result.case)} | {_cell(name)}{marker} "
                    f"| {_number(result.median(name))} {result.unit} "
                    f"| {_number(result.iqr(name))} | {ratio} |"
                )
            for name, reason in result.not_applicable.items():
                lines.append(f"| {_cell(result.case)} | {_cell(name)} | n/a | | |")
                del reason  # explained in the notes below the table
        comparisons = [(r, c) for r in cases for c in r.comparisons]
        if comparisons:
            lines += [
                "",
                "| case | within-round figure | median (IQR) | goal |",
                "|---|---|---|---|",
            ]
            for result, comparison in comparisons:
                lines.append(
                    f"| {_cell(result.case)} | {_cell(comparison.label)} "
                    f"| {comparison.format(result.samples)} | {_cell(comparison.goal_text)} |"
                )
        notes = [
            f"- **{result.case}**: {note}"
            for result in cases
            for note in [
                *result.notes,
                *(f"{name} is n/a: {why}" for name, why in result.not_applicable.items()),
            ]
        ]
        if notes:
            lines += ["", *notes]
        for result in cases:
            if result.tables:
                lines += ["", *result.tables]
        lines.append("")
    return "\n".join(lines)


def write_results(results: list[CaseResult], folder: Path, meta: dict[str, Any]) -> Path:
    """Write results.json (raw samples and figures) and results.md (the tables) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(
        json.dumps({"meta": meta, "cases": [r.as_dict() for r in results]}, indent=2) + "\n"
    )
    table = folder / "results.md"
    table.write_text(render_markdown(results, meta))
    return table
