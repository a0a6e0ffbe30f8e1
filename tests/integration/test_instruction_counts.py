"""The instruction-count method of ``nox -s bench`` (benchmarks._instructions), kept short: a
program's count per unit of work is the difference of two runs under cachegrind, and two
estimates agree closely; the periodic work is held in the counted program's environment."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_PEERS = os.environ.get("PYWATS_TEST_REQUIRE_PEERS") == "1"

_PROGRAM = (
    "import os, sys\n"
    "n = int(sys.argv[1])\n"
    "total = 0\n"
    "for _ in range(n):\n"
    "    total += sum(range(100))\n"
    "print(os.environ['OTEL_BSP_SCHEDULE_DELAY'], os.environ['OTEL_METRIC_EXPORT_INTERVAL'])\n"
)


@pytest.fixture(scope="module")
def valgrind() -> None:
    if shutil.which("valgrind") is None:
        message = "valgrind is not installed (apt-get install -y valgrind)"
        if REQUIRE_PEERS:
            pytest.fail(f"{message}; CI (PYWATS_TEST_REQUIRE_PEERS=1) requires it")
        pytest.skip(message)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


@pytest.mark.usefixtures("valgrind")
def test_a_count_per_unit_is_the_difference_of_two_runs_and_repeats() -> None:
    from benchmarks import _instructions

    def per_unit() -> float:
        small = _instructions.count([sys.executable, "-c", _PROGRAM, "2000"])
        large = _instructions.count([sys.executable, "-c", _PROGRAM, "6000"])
        assert small.stdout.split() == ["86400000", "86400000"]
        assert large.instructions > small.instructions
        return _instructions.per_unit(small, large, 4000)

    first, second = per_unit(), per_unit()
    # sum(range(100)) and the loop: thousands of instructions, the same in both estimates
    # (start-up, which differs from run to run, cancels out).
    assert 1_000 < first < 100_000
    assert abs(first - second) / first < 0.01


@pytest.mark.usefixtures("valgrind")
def test_a_counted_benchmark_program_runs_under_valgrind() -> None:
    """One operation of the peer table, counted as the counts section counts it."""
    from benchmarks import _instructions

    argv = [sys.executable, "-m", "benchmarks.counts._program", "--operation", "span"]
    small = _instructions.count([*argv, "--variant", "the floor", "--n", "10"])
    large = _instructions.count([*argv, "--variant", "the floor", "--n", "60"])
    assert small.stdout.strip() == "span the floor 10 spans=210"
    assert large.stdout.strip() == "span the floor 60 spans=260"
    assert 0 < _instructions.per_unit(small, large, 50) < 1_000_000
