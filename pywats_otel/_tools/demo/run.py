"""``pywats-otel demo``: start telemetry, run the demo station, print what happened and where
to look (the /metrics and /health URLs, the trace ID of a failed report for Jaeger)."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pywats_otel import correlation
from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._pipeline.bootstrap import init_telemetry
from pywats_otel._tools.demo.station import DemoOptions, DemoSummary, Station, print_progress

__all__ = ["run_demo"]

_LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)


def _configure_logging(stream: TextIO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    # The filter fills the IDs when the logging instrumentation is switched off.
    handler.addFilter(correlation.CorrelationFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # The demo's own progress is enough; httpx's per-request INFO lines are not.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _print_summary(summary: DemoSummary, status: dict[str, Any], out: TextIO) -> None:
    lines = [
        f"pywats-otel demo: {summary.duration_s:.1f} s, {summary.files} test files",
        f"  converted {summary.converted}, conversion failed {summary.conversion_failed}, "
        f"rejected {summary.rejected}",
        f"  uploaded {summary.uploaded} (retries {summary.upload_retries}), upload failed "
        f"{summary.upload_failed}, left in queue {summary.left_in_queue}, "
        f"{summary.reports_per_s:.1f} reports/s",
        f"  the fake WATS server answered 503 {summary.server_errors} times and let "
        f"{summary.server_timeouts} requests time out",
    ]
    endpoint = status.get("endpoint") or {}
    if summary.metrics_url:
        lines.append(f"  metrics: {summary.metrics_url}   health: {summary.health_url}")
        lines.append("  (served while the demo runs; --hold keeps them up after the summary)")
    elif endpoint.get("error"):
        lines.append(
            f"  metrics: not served ({endpoint['error']}); run again with --prometheus-port 9464 "
            "(or set PYWATS_OTEL_PROMETHEUS_PORT) to pick a free port"
        )
    if summary.failed_trace_id:
        lines.append(
            f"  a failed report's trace ID: {summary.failed_trace_id} (look it up in Jaeger)"
        )
    for signal_name in ("traces", "metrics", "logs"):
        destinations = [entry["destination"] for entry in status.get(signal_name, [])]
        lines.append(f"  {signal_name} -> {', '.join(destinations) or 'none'}")
    out.write("\n".join(lines) + "\n")
    out.flush()


def run_demo(
    options: DemoOptions,
    *,
    service_name: str,
    prometheus_port: int | None,
    workdir: Path | None,
    as_json: bool,
    hold: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the demo; 0 when it ran, 2 when the settings were refused."""
    _configure_logging(err)
    own_workdir = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="pywats-otel-demo-")) if workdir is None else workdir
    station = Station(options, folder)
    try:
        try:
            telemetry = init_telemetry(
                service_name=service_name,
                prometheus_port=prometheus_port,
                # The demo's fake WATS server is the station's WATS server: the built-in check.
                health_check_url=station.health_url,
                correlation_header=options.correlation_header,
            )
        except TelemetryConfigError as exc:
            err.write(f"pywats-otel demo: {exc}\n")
            station.server.stop()
            return 2

        stop_signals = _stop_on_signals(station)
        try:
            summary = station.run(progress=print_progress(err))
        except KeyboardInterrupt:
            station.stop()
            summary = station.summary()
        finally:
            stop_signals()
        if err.isatty():
            err.write("\n")
        if telemetry.metrics_url and telemetry.endpoint is not None:
            summary.metrics_url = telemetry.metrics_url
            summary.health_url = f"{telemetry.endpoint.url}/health"
        if as_json:
            out.write(json.dumps(summary.as_dict()) + "\n")
            out.flush()
        else:
            _print_summary(summary, telemetry.status(), out)
        if hold:
            err.write("serving /metrics and /health until stdin closes (Ctrl-D)\n")
            err.flush()
            _wait_for_stdin()
        station.close()
        telemetry.shutdown(timeout_s=telemetry.settings.shutdown_timeout_s)
        return 0
    finally:
        if own_workdir:
            shutil.rmtree(folder, ignore_errors=True)


def _stop_on_signals(station: Station) -> Any:
    """Ctrl-C and SIGTERM stop the station cleanly; returns the function that undoes this."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, frame: FrameType | None) -> None:
        station.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _wait_for_stdin() -> None:
    try:
        while sys.stdin.readline():
            return
    except (OSError, KeyboardInterrupt, ValueError):
        return
