"""The ``pywats-otel`` command: ``demo``, ``check``, ``settings``.

``pywats-otel demo`` runs a demo test station on the embedded defaults and says where to look;
``check`` validates the settings and tries the collector and the Prometheus port;
``settings`` shows every setting with its source, or (``--markdown``) the docs' table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._config.effective import effective_rows, render_rows
from pywats_otel._config.loader import load_settings
from pywats_otel._tools.docs import settings_table

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
    if args.json:
        shown = {row.name: row.value for row in effective_rows(settings)}
        print(
            json.dumps(
                {
                    name: {
                        "value": value,
                        "effective": shown.get(name, "unset: as the general one"),
                        "source": settings.source_of(name),
                    }
                    for name, value in settings.redacted().items()
                },
                indent=2,
            )
        )
        return 0
    for line in render_rows(effective_rows(settings)):
        print(line)
    for note in settings.notes:
        print(f"pywats-otel: {note}", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pywats_otel._tools.demo.run import run_demo
    from pywats_otel._tools.demo.station import DemoOptions

    options = DemoOptions(
        duration_s=args.duration,
        rate=args.rate,
        failure_rate=args.failure_rate,
        seed=args.seed,
        steps=args.steps,
    )
    return run_demo(
        options,
        service_name=args.service_name,
        prometheus_port=args.prometheus_port,
        workdir=args.workdir,
        as_json=args.json,
        hold=args.hold,
    )


def _cmd_check(args: argparse.Namespace) -> int:
    from pywats_otel._tools.check import run_check

    return run_check(sys.stdout, sys.stderr)


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pywats-otel", description="OpenTelemetry for pyWATS test stations."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a demo test station: converters, an on-disk queue, uploads to a fake WATS server",
        description="Run a demo test station in this process, instrumented through the public "
        "API: test files in three formats appear in an inbox, converters turn them into reports, "
        "an on-disk queue holds them and an httpx client uploads them to a fake WATS server on "
        "127.0.0.1, with failures on purpose (broken files, server 503s and timeouts). While it "
        "runs, /metrics, /traces and /health are served on port 9090; at the end a summary "
        "gives the counts, the URLs and the tree of a failed report's trace. Settings come "
        "from the environment as for any station (PYWATS_OTEL_*, OTEL_*).",
    )
    demo.add_argument(
        "--duration",
        type=_non_negative,
        default=15.0,
        help="seconds of new test files (default 15; 0: until Ctrl-C or SIGTERM)",
    )
    demo.add_argument("--rate", type=_non_negative, default=5.0, help="test files per second (5)")
    demo.add_argument(
        "--failure-rate",
        type=_share,
        default=0.1,
        help="share of failures: broken files, server 503s and timeouts (default 0.1)",
    )
    demo.add_argument("--seed", type=int, default=None, help="seed for a repeatable run")
    demo.add_argument("--steps", type=int, default=50, help="test steps per report (50)")
    demo.add_argument(
        "--service-name",
        default="pywats-demo-station",
        help="service.name of the station's telemetry (default pywats-demo-station)",
    )
    demo.add_argument(
        "--workdir", type=Path, default=None, help="folder for inbox and queue (default: temporary)"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    demo.add_argument(
        "--hold",
        action="store_true",
        help="after the summary, keep /metrics, /traces and /health up until stdin closes",
    )
    demo.add_argument(
        "--prometheus-port",
        type=int,
        default=None,
        help="port of /metrics, /traces and /health; 0 picks a free one "
        "(default: PYWATS_OTEL_PROMETHEUS_PORT or 9090)",
    )
    demo.set_defaults(run=_cmd_demo)

    check = commands.add_parser(
        "check",
        help="show the settings, try the collector and the Prometheus port; non-zero on trouble",
        description="The settings in effect with their sources, where each signal goes, then an "
        "empty export to each signal's OTLP collector and a look at the Prometheus port. Exit "
        "status 0: all is well; 1: a FAIL line says what to change; 2: a setting is refused.",
    )
    check.set_defaults(run=_cmd_check)

    settings = commands.add_parser(
        "settings",
        help="show every setting in effect and where it came from",
        description="Every setting's value in effect (an unset one as what applies instead) and "
        "its source: keyword argument, variable, config file or default. Secrets show as ***.",
    )
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
