"""The docs' generated tables: settings, metrics and spans, from their single declarations.

``python -m pywats_otel._docs --write`` rewrites every block between ``<!-- name:start -->`` and
``<!-- name:end -->`` in docs/; ``--check`` (what the tests and ``nox -s docs`` run) fails when
a block is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from pywats_otel import semconv
from pywats_otel._settings import setting_infos

__all__ = ["GENERATED", "metrics_table", "settings_table", "spans_table", "update"]


def _code(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "—"


def settings_table() -> str:
    rows = [
        "| setting | environment variables (first wins) | accepted | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for info in setting_infos():
        variables = [f"`{name}`" for name in info.env]
        variables += [f"`{name}` (inverse)" for name in info.inverse_env]
        secret = " Secret." if info.secret else ""
        rows.append(
            f"| `{info.name}` | {', '.join(variables)} | {info.accepted} | {info.default} "
            f"| {info.doc}{secret} |"
        )
    return "\n".join(rows) + "\n"


def _buckets(values: tuple[float, ...]) -> str:
    return ", ".join(f"{value:g}" for value in values)


def metrics_table() -> str:
    rows = [
        "| name | Prometheus name | kind | unit | attributes | description |",
        "|---|---|---|---|---|---|",
    ]
    for metric in semconv.METRICS:
        description = metric.description
        if metric.buckets:
            description += f" Buckets (s): {_buckets(metric.buckets)}."
        rows.append(
            f"| `{metric.name}` | `{semconv.prometheus_name(metric)}` | {metric.kind} "
            f"| `{metric.unit}` | {_code(metric.attributes)} | {description} |"
        )
    return "\n".join(rows) + "\n"


def spans_table() -> str:
    rows = ["| name | kind | attributes | description |", "|---|---|---|---|"]
    for span in semconv.SPANS:
        rows.append(
            f"| `{span.name}` | {span.kind} | {_code(span.attributes)} | {span.description} |"
        )
    return "\n".join(rows) + "\n"


#: Marker name -> generator.
GENERATED: dict[str, Callable[[], str]] = {
    "settings-table": settings_table,
    "metrics-table": metrics_table,
    "spans-table": spans_table,
}

_BLOCK = re.compile(
    r"(<!-- (?P<name>[\w-]+):start -->\n)(?P<body>.*?)(<!-- (?P=name):end -->)", re.S
)


def update(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""

    def fill(match: re.Match[str]) -> str:
        generate = GENERATED.get(match["name"])
        if generate is None:
            return match.group(0)
        return match.group(1) + generate() + match.group(4)

    return _BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pywats_otel._docs")
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    action.add_argument("--check", action="store_true", help="fail when a block is stale")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(args.docs.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        new = update(text)
        if new != text:
            stale.append(path)
            if args.write:
                path.write_text(new, encoding="utf-8")
    if stale and args.check:
        names = ", ".join(str(path) for path in stale)
        print(f"stale generated tables in {names}; run: python -m pywats_otel._docs --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
