"""`python -m benchmarks --quick` runs every case and writes the results files (a smoke test:
the figures of a quick run mean little, their presence and shape are checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "micro": {
        "queue + converter, telemetry not initialised",
        "span + counter + histogram",
        "one span, the /traces processor on and off",
        "counter + histogram (metrics only)",
        "queue enqueue + process",
        "converter run",
        "a report's converter run + queue, right after its XML and JSON work",
        "one log record with correlation fields",
        "httpx GET to 127.0.0.1 (keep-alive)",
        "httpx request, in-process connection pool (no network)",
        "OTLP/gRPC export of a batch of spans (per span)",
    },
    "pipeline": {
        "CPU time per report",
        "wall time per report",
        "periodic work of the pipeline's telemetry (CPU per event)",
        "real pyWATS station: CPU time per report",
        "real pyWATS station: wall time per report",
    },
    "scale": {
        "/metrics scrape, 100 series",
        "/metrics scrape, 5,000 series",
        "memory (RSS)",
        "import and start-up",
        "system metrics: one collection",
        "idle station, CPU per minute",
    },
}


def test_the_quick_run_writes_every_case_with_interleaved_samples(tmp_path: Path) -> None:
    """Every case of the three sections run is in results.json with 3 rounds and in results.md."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    done = subprocess.run(
        # The counts section runs under valgrind: nox -s bench, not the tests (its method has a
        # smoke test of its own, tests/integration/test_instruction_counts.py).
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "micro,pipeline,scale",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    cases = {case["case"]: case for case in results["cases"]}
    for section, names in CASES.items():
        assert {name for name, case in cases.items() if case["section"] == section} == names
    assert results["meta"]["rounds"] == 3
    assert results["meta"]["quick"] is True

    queue = cases["queue enqueue + process"]
    assert set(queue["variants"]) == {
        "no telemetry",
        "bare SDK by hand",
        "by hand on init_telemetry",
        "prometheus_client (metrics only)",
        "pywats_otel",
    }
    assert all(len(v["samples"]) == 3 for v in queue["variants"].values())
    assert all(value > 0 for v in queue["variants"].values() for value in v["samples"])
    assert "stock instrumentor" in queue["not_applicable"]
    assert queue["extra"]["pywats_otel_spans_dropped"] == 0
    assert "stock instrumentor" in cases["httpx GET to 127.0.0.1 (keep-alive)"]["variants"]

    page = cases["one span, the /traces processor on and off"]
    assert set(page["variants"]) == {
        "no telemetry",
        "bare SDK by hand",
        "pywats_otel's span pipeline, /traces off",
        "pywats_otel's span pipeline, /traces on",
    }
    # Every variant exported every span it made: /traces takes none away.
    exported = {value for key, value in page["extra"].items() if key.startswith("exported_")}
    assert len(exported) == 1
    assert exported.pop() > 0
    share, ratio = page["comparisons"]
    assert (share["kind"], share["goal"]) == ("share", 5.0)
    assert ratio["kind"] == "ratio"

    cpu = cases["CPU time per report"]
    assert set(cpu["variants"]) == {
        "no telemetry (instrumentation removed)",
        "no telemetry (not initialised)",
        "pywats_otel (Prometheus + OTLP)",
        "pywats_otel, 10 % of traces sampled",
        "pywats_otel + 1 scrape + 1 OTLP metric export per round",
    }
    [overhead] = [c for c in cpu["comparisons"] if c["goal"] is not None]
    assert overhead["kind"] == "overhead"
    assert len(overhead["per_round"]) == 12  # 4 short pipeline rounds per round

    scrape = cases["/metrics scrape, 5,000 series"]
    assert scrape["extra"]["series_prometheus_client"] == 5000
    assert scrape["extra"]["series_ours"] > 5000

    imports = cases["import and start-up"]
    [hygiene] = imports["checks"]
    assert hygiene["met"] is True
    assert imports["extra"]["modules_of_unused_exporters"] == []

    table = (tmp_path / "results.md").read_text()
    for heading in ("## Budget", "## Micro", "## Pipeline", "## Scale"):
        assert heading in table
    assert "| queue enqueue + process | stock instrumentor | n/a | | |" in table
