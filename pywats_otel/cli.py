"""The ``pywats-otel`` command: ``demo``, ``settings``.

``pywats-otel demo`` starts telemetry on its embedded defaults, produces spans and metrics for a
few seconds and says where to look; ``pywats-otel settings`` shows every setting with its
source, or (``--markdown``) the configuration table of the docs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

from pywats_otel._docs import settings_table
from pywats_otel._errors import TelemetryConfigError
from pywats_otel._settings import load_settings

__all__ = ["main"]


def _cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(settings_table())
        return 0
    try:
        settings = load_settings()
    except TelemetryConfigError as exc:
        print(f"pywats-otel: {exc}", file=sys.stderr)
        return 2
    values = settings.redacted()
    if args.json:
        print(
            json.dumps(
                {
                    name: {"value": value, "source": settings.source_of(name)}
                    for name, value in values.items()
                },
                indent=2,
            )
        )
        return 0
    width = max(len(name) for name in values)
    for name, value in values.items():
        print(f"{name:<{width}}  {value!r:<40}  {settings.source_of(name)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from opentelemetry import metrics, trace

    from pywats_otel import init_telemetry, semconv

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        telemetry = init_telemetry(
            service_name=args.service_name, prometheus_port=args.prometheus_port
        )
    except TelemetryConfigError as exc:
        print(f"pywats-otel demo: {exc}", file=sys.stderr)
        return 2
    tracer = trace.get_tracer("pywats_otel.demo")
    meter = metrics.get_meter("pywats_otel.demo")
    executions = meter.create_counter(
        semconv.CONVERTER_EXECUTIONS, unit="{execution}", description="Converter runs."
    )
    duration = meter.create_histogram(
        semconv.CONVERTER_DURATION, unit="s", description="Duration of one converter run."
    )
    deadline = time.monotonic() + args.duration
    runs = 0
    last_trace = ""
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            with tracer.start_as_current_span(
                semconv.SPAN_CONVERT.format(converter="demo"),
                attributes={semconv.CONVERTER_NAME: "demo"},
            ) as span:
                time.sleep(0.05)
                last_trace = format(span.get_span_context().trace_id, "032x")
            attributes = {semconv.CONVERTER_NAME: "demo", semconv.CONVERTER_STATUS: "success"}
            executions.add(1, attributes)
            duration.record(time.perf_counter() - started, attributes)
            runs += 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\ninterrupted; shutting down", file=sys.stderr)
    print(f"demo: {runs} converter runs traced; last trace ID {last_trace}")
    if telemetry.metrics_url:
        print(f"demo: metrics were served at {telemetry.metrics_url}")
    status = telemetry.status()
    for signal in ("traces", "metrics", "logs"):
        destinations = [entry["destination"] for entry in status.get(signal, [])]
        print(f"demo: {signal} -> {', '.join(destinations) or 'none'}")
    telemetry.shutdown(timeout_s=telemetry.settings.shutdown_timeout_s)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pywats-otel", description="OpenTelemetry for pyWATS test stations."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a short demo that produces telemetry")
    demo.add_argument("--duration", type=float, default=5.0, help="seconds to run (default 5)")
    demo.add_argument("--service-name", default="pywats-demo-station")
    demo.add_argument(
        "--prometheus-port",
        type=int,
        default=None,
        help="port of /metrics and /health (default: PYWATS_OTEL_PROMETHEUS_PORT or 9090)",
    )
    demo.set_defaults(run=_cmd_demo)

    settings = commands.add_parser("settings", help="show the settings and where each came from")
    output = settings.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print the docs' settings table")
    output.add_argument("--json", action="store_true", help="print values and sources as JSON")
    settings.set_defaults(run=_cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
