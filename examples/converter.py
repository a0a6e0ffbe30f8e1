"""A traced converter: a span per file, executions and duration by converter and status.

``@converter.traced_converter`` reads the status from the result (``"rejected"`` here) or an
exception (``failed``, recorded on the span and raised unchanged).

Run: python examples/converter.py
"""

from __future__ import annotations

import csv
import tempfile
import urllib.request
from pathlib import Path

from pywats_otel import converter, init_telemetry


@converter.traced_converter("ict-csv")
def convert(path: Path) -> dict[str, object]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {"status": "rejected", "records": 0}  # nothing to report
    steps = [{"name": row["step"], "value": float(row["value"])} for row in rows]
    return {"status": "success", "records": len(steps), "steps": steps}


def main() -> None:
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0)
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "good.csv": "step,value\nvcc,3.31\nicc,0.12\n",
            "empty.csv": "step,value\n",
            "broken.csv": "step,value\nvcc,n/a\n",
        }
        for name, text in files.items():
            path = Path(folder) / name
            path.write_text(text)
            try:
                result = convert(path)
                print(f"{name}: {result['status']} ({result['records']} records)")
            except ValueError as exc:
                print(f"{name}: failed ({exc})")

    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("pywats_converter_executions_total{"):
                print(line)
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
