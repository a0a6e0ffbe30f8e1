"""Instruction counts: a program under valgrind's cachegrind (``--cache-sim=no``), the way
CodSpeed measures on CI machines whose CPU time wanders from round to round.

A station runs ``small`` and ``large`` reports in two processes; the count per report is the
difference of their instruction counts over the difference in reports, so start-up, warm-up
and shutdown cancel out. Instructions see neither waits, nor the GIL, nor the kernel (system
calls count as the few instructions that make them): the CPU-time rounds stay beside them.

Valgrind runs a program's threads one at a time and 15-50 times slower, so anything that fires
on a timer fires far more often per report than at full speed: the stations hold their
periodic work until exit (see ``HELD_ENV``) and it is measured apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import ROOT, clean_env

#: Periodic work held until exit: span and log batches on a schedule of a day with room for
#: every record (a batch of 512 spans is still exported when it fills, which is per-report
#: work), the periodic metric reader every day; nothing scrapes /metrics.
HELD_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "86400000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
    "OTEL_BLRP_SCHEDULE_DELAY": "86400000",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "1000000",
    "OTEL_METRIC_EXPORT_INTERVAL": "86400000",
    # The same hash seed in every run: dict and set layouts, and so the work, repeat.
    "PYTHONHASHSEED": "0",
}
_SUMMARY = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)


def valgrind() -> str | None:
    """The valgrind command, or None when it is not installed (Debian package ``valgrind``)."""
    return shutil.which("valgrind")


@dataclass(frozen=True)
class Count:
    """What one program run under cachegrind executed."""

    instructions: int
    stdout: str


def count(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 3600
) -> Count:
    """Run ``argv`` (a Python command line) under cachegrind; its total instruction count."""
    command = valgrind()
    if command is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="pywats-otel-cg-") as folder:
        out = Path(folder) / "cachegrind.out.%p"
        completed = subprocess.run(
            [
                command,
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out}",
                *argv,
            ],
            cwd=ROOT,
            env={**clean_env(), **HELD_ENV, **(env or {})},
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            tail = completed.stderr.decode(errors="replace")[-3000:]
            raise RuntimeError(f"{argv} under valgrind exited {completed.returncode}:\n{tail}")
        # The main process's file (a child would write one of its own; none is started).
        files = sorted(Path(folder).glob("cachegrind.out.*"), key=os.path.getmtime)
        if not files:
            raise RuntimeError(f"{argv}: cachegrind wrote no output file")
        found = _SUMMARY.search(files[0].read_bytes())
        if found is None:
            raise RuntimeError(f"{argv}: no summary line in {files[0].name}")
        return Count(int(found.group(1)), completed.stdout.decode())


def per_unit(small: Count, large: Count, units: int) -> float:
    """Instructions per unit of work between a run of ``n`` units and one of ``n + units``."""
    return (large.instructions - small.instructions) / units
