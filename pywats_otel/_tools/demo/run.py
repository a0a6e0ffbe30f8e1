"""``pywats-otel demo``: start telemetry, run the demo station, print what happened and where
to look (the /metrics, /traces and /health URLs, the tree of a failed report's trace), then
stop in the right order: the station's checks, telemetry, and the fake WATS server last."""

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
from typing import TYPE_CHECKING, Any, TextIO

from pywats_otel import correlation
from pywats_otel._base import span_tree
from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._base.text import plural
from pywats_otel._pipeline.bootstrap import init_telemetry
from pywats_otel._tools.demo.station import DemoOptions, DemoSummary, Station, print_progress

if TYPE_CHECKING:
    from pywats_otel._pipeline.telemetry import Telemetry

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


def failed_trace_lines(telemetry: Telemetry, trace_id: str, *, color: bool = False) -> list[str]:
    """The tree of the failed report's trace, from the spans /traces keeps; [] without them."""
    recent = telemetry.recent_traces
    if recent is None or not trace_id:
        return []
    record = recent.get(int(trace_id, 16))
    if record is None:
        return []
    return span_tree.render_text(span_tree.build_trees(record.spans), color=color)


def _where_traces_go(status: dict[str, Any]) -> str:
    destinations = [entry["destination"] for entry in status.get("traces", [])]
    if not destinations:
        return ""
    if any(str(destination).startswith("otlp") for destination in destinations):
        return "look it up in Jaeger, or wherever the collector sends traces"
    return f"also in {', '.join(destinations)}"


def _print_summary(
    summary: DemoSummary,
    status: dict[str, Any],
    tree: list[str],
    traces_url: str | None,
    out: TextIO,
) -> None:
    lines = [
        f"pywats-otel demo: {summary.duration_s:.1f} s, {plural(summary.files, 'test file')}",
        f"  converted {summary.converted}, conversion failed {summary.conversion_failed}, "
        f"rejected {summary.rejected}",
        f"  uploaded {summary.uploaded} ({plural(summary.upload_retries, 'retry', 'retries')}), "
        f"upload failed {summary.upload_failed}, "
        f"{plural(summary.left_in_queue, 'report')} left in the queue, "
        f"{summary.reports_per_s:.1f} reports/s",
        f"  the fake WATS server answered 503 {plural(summary.server_errors, 'time')} and let "
        f"{plural(summary.server_timeouts, 'request')} time out",
    ]
    endpoint = status.get("endpoint") or {}
    if summary.metrics_url:
        served = f"  metrics: {summary.metrics_url}   health: {summary.health_url}"
        if traces_url:
            served += f"   traces: {traces_url}"
        lines.append(served)
        lines.append("  (served while the demo runs; --hold keeps them up after the summary)")
    elif endpoint.get("error"):
        lines.append(
            f"  metrics: not served ({endpoint['error']}); run again with --prometheus-port 9464 "
            "(or set PYWATS_OTEL_PROMETHEUS_PORT) to pick a free port"
        )
    if summary.failed_trace_id:
        where = _where_traces_go(status)
        lines.append(
            f"  a failed report's trace ID: {summary.failed_trace_id}"
            + (f" ({where})" if where else "")
        )
        if tree:
            lines.append("  its trace:")
            lines += [f"    {line}" for line in tree]
            if traces_url:
                lines.append(f"    (in a browser: {traces_url}/{summary.failed_trace_id})")
    for signal_name in ("traces", "metrics", "logs"):
        destinations = [entry["destination"] for entry in status.get(signal_name, [])]
        lines.append(f"  {signal_name} -> {', '.join(destinations) or 'none'}")
    out.write("\n".join(lines) + "\n")
    out.flush()


def _announce(telemetry: Telemetry, err: TextIO) -> None:
    """Say where to look while the demo runs."""
    if telemetry.metrics_url is None or telemetry.endpoint is None:
        return
    paths = "/metrics, /traces and /health" if telemetry.traces_url else "/metrics and /health"
    err.write(f"pywats-otel demo: serving {paths} on {telemetry.endpoint.url} while it runs\n")
    err.flush()


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
            station.stop_server()
            return 2
        _announce(telemetry, err)
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
            summary.traces_url = telemetry.traces_url
        if as_json:
            out.write(json.dumps(summary.as_dict()) + "\n")
            out.flush()
        else:
            tree = failed_trace_lines(telemetry, summary.failed_trace_id, color=_is_terminal(out))
            _print_summary(summary, telemetry.status(), tree, summary.traces_url, out)
        if hold:
            paths = (
                "/metrics, /traces and /health" if telemetry.traces_url else "/metrics and /health"
            )
            err.write(f"serving {paths} until stdin closes (Ctrl-D)\n")
            err.flush()
            _wait_for_stdin()
        # The order matters: the station's checks go, then telemetry (whose health check
        # requests the fake WATS server) shuts down, and the server stops last.
        station.close()
        telemetry.shutdown(timeout_s=telemetry.settings.shutdown_timeout_s)
        station.stop_server()
        return 0
    finally:
        station.stop_server()
        if own_workdir:
            shutil.rmtree(folder, ignore_errors=True)


def _is_terminal(stream: TextIO) -> bool:
    import os

    try:
        return stream.isatty() and not os.environ.get("NO_COLOR")
    except (OSError, ValueError):
        return False


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
