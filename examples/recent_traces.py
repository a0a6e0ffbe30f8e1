"""See a trace with no backend: /traces of the endpoint, and the tree exporter.

A converter fails on one file and succeeds on another; the example reads its own /traces as
JSON (failed traces first) and prints each kept trace as a tree, then the URL to open in a
browser. With OTEL_TRACES_EXPORTER=tree the same trees are printed as each trace ends.

Run: python examples/recent_traces.py
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from pywats_otel import converter, init_telemetry


@converter.traced_converter("ict-csv")
def convert(path: Path) -> dict[str, Any]:
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return {"steps": [{"name": name, "value": float(value)} for name, value in rows]}


def main() -> None:
    # Port 0 picks a free port so the example never collides with a running Prometheus.
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0)
    folder = Path(tempfile.mkdtemp())
    (folder / "good.csv").write_text("step,value\nvoltage,3.3\n")
    (folder / "broken.csv").write_text("step,value\nvoltage,n/a\n")
    for name in ("good.csv", "broken.csv"):
        with contextlib.suppress(ValueError):
            convert(folder / name)

    assert telemetry.traces_url is not None
    request = urllib.request.Request(telemetry.traces_url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        page = json.load(response)
    for kept in page["traces"]:
        state = "failed" if kept["failed"] else "ok"
        print(f"trace {kept['trace_id']} {state}: {kept['root']}")
        for span in kept["spans"]:
            error = f"  {span['error']}" if span["error"] else ""
            print(f"{'  ' * (span['depth'] + 1)}{span['name']}  {span['status']}{error}")
    print(f"in a browser: {telemetry.traces_url}")
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
