"""Log lines joined by the trace ID: JSON lines on stdout, a text format on stderr.

Run it with ``python examples/correlation_logs.py``. It needs no collector: spans are made (their
trace IDs are the correlation IDs) but sent nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from pywats_otel import correlation, init_telemetry

# What a WATS server or an upstream service would send with a request.
INCOMING = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
LEGACY_CLIENT = {"X-Correlation-ID": "4bf92f3577b34da6a3ce929d0e0e4736"}

TEXT_FORMAT = (
    "%(asctime)s %(levelname)s [%(name)s] [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)

log = logging.getLogger("station")


def setup_logging() -> None:
    json_handler = logging.StreamHandler(sys.stdout)
    json_handler.setFormatter(correlation.JsonFormatter())
    text_handler = logging.StreamHandler(sys.stderr)
    # defaults= keeps the format working even where telemetry is off and no field is set.
    text_handler.setFormatter(
        logging.Formatter(TEXT_FORMAT, defaults=dict.fromkeys(correlation.LOG_FIELDS, ""))
    )
    root = logging.getLogger()
    root.addHandler(json_handler)
    root.addHandler(text_handler)
    root.setLevel(logging.INFO)


def convert(path: str) -> int:
    # Runs in a pool thread: the threading instrumentation carried the span here.
    log.info("converted %s", path, extra={"report_path": path})
    return 42


async def upload(report: str) -> None:
    await asyncio.sleep(0)
    log.info("uploaded %s", report)


def main() -> None:
    telemetry = init_telemetry(service_name="station-7", metrics_exporter="none")
    setup_logging()
    log.info("started; outside any span the ID fields are empty")

    with correlation.correlation_scope(INCOMING, name="handle request") as request:
        log.info("request adopted trace %s", request.correlation_id)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(convert, ["a.xml", "b.csv"]))

    with correlation.correlation_scope(name="watch folder event") as event:
        log.info("new file seen; new trace %s", event.correlation_id)
        asyncio.run(upload("report-7"))

    with correlation.correlation_scope(LEGACY_CLIENT, name="legacy request") as legacy:
        log.info("the client's correlation ID became the trace ID %s", legacy.correlation_id)
        log.warning("a message with a newline\nand an ANSI escape \x1b[31m stays one JSON line")
        try:
            int("not a number")
        except ValueError:
            log.exception("parsing failed")

    telemetry.shutdown(timeout_s=2)


if __name__ == "__main__":
    main()
