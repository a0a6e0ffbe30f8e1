"""examples/correlation_logs.py runs and its lines are joined by the right trace IDs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INCOMING_TRACE = "0af7651916cd43dd8448eb211c80319c"
LEGACY_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_example_prints_json_lines_joined_by_trace_ids() -> None:
    """Each scope's lines share its trace ID: adopted, new, or the legacy client's."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "correlation_logs.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(entries) == 9
    started, request, convert_a, convert_b, seen, uploaded, legacy, newline, failed = entries

    assert (started["trace_id"], started["span_id"], started["correlation_id"]) == ("", "", "")
    assert all(entry["service.name"] == "station-7" for entry in entries)

    for entry in (request, convert_a, convert_b):
        assert entry["trace_id"] == entry["correlation_id"] == INCOMING_TRACE
        assert entry["span_id"] == request["span_id"]
    assert {convert_a["report_path"], convert_b["report_path"]} == {"a.xml", "b.csv"}

    assert re.fullmatch(r"[0-9a-f]{32}", seen["trace_id"])
    assert seen["trace_id"] not in (INCOMING_TRACE, LEGACY_TRACE)
    assert uploaded["trace_id"] == seen["trace_id"]
    assert seen["message"].endswith(seen["trace_id"])

    for entry in (legacy, newline, failed):
        assert entry["trace_id"] == LEGACY_TRACE
    assert newline["message"].startswith("a message with a newline\nand an ANSI escape \x1b[31m")
    assert failed["exception.type"] == "ValueError"
    assert 'int("not a number")' in failed["exception.stacktrace"]

    text = done.stderr.splitlines()
    converted = f"[trace_id={INCOMING_TRACE} span_id={request['span_id']}] converted a.xml"
    assert any(line.endswith(converted) for line in text)
    assert text[0].endswith(
        "[station] [trace_id= span_id=] started; outside any span the ID fields are empty"
    )
