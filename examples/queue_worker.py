"""A report queue on disk whose items carry their trace, and a worker that retries.

The producer stores each report as a JSON file with its telemetry carrier (``metadata``); the
worker, in another thread (it could be another process after a restart), continues the trace:
``send reports`` and every ``process reports`` attempt share one trace ID.

Run: python examples/queue_worker.py
"""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.request
from pathlib import Path

from opentelemetry import trace

from pywats_otel import init_telemetry, queue

QUEUE = "reports"


def produce(folder: Path, report_id: str) -> str:
    item = {"id": report_id, "report": {"serial": "SN-1001"}, "metadata": {}}
    with queue.enqueue(QUEUE, item["metadata"], item_id=report_id) as span:
        (folder / f"{report_id}.json").write_text(json.dumps(item))
        trace_id = format(span.get_span_context().trace_id, "032x")
    print(f"enqueued {report_id} in trace {trace_id}")
    return trace_id


def work(folder: Path, flaky_uploads: int) -> None:
    """Process every stored item; the first ``flaky_uploads`` attempts fail and are retried."""
    failures_left = flaky_uploads
    for path in sorted(folder.glob("*.json")):
        item = json.loads(path.read_text())
        for attempt in range(1, 4):
            with queue.process(QUEUE, item["metadata"], item_id=item["id"], attempt=attempt) as w:
                trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
                if failures_left > 0:
                    failures_left -= 1
                    w.outcome = "retry"  # the upload failed; try again
                print(f"processed {item['id']} attempt {attempt}: {w.outcome} in trace {trace_id}")
            if w.outcome == "success":
                path.unlink()
                break


def main() -> None:
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0)
    with tempfile.TemporaryDirectory() as folder:
        produce(Path(folder), "report-1")
        produce(Path(folder), "report-2")
        worker = threading.Thread(target=work, args=(Path(folder), 1))
        worker.start()
        worker.join()

    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(("pywats_queue_enqueued_total{", "pywats_queue_processed_total{")):
                print(line)
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
