"""What is generated from the single declarations: the docs' tables of settings, metrics and
spans, and ``SettingsKwargs``, the typed keyword arguments of ``init_telemetry()``.

``python -m pywats_otel._tools.docs --write`` rewrites every block between
``<!-- name:start -->`` and ``<!-- name:end -->`` in docs/ and the file
``pywats_otel/_config/kwargs.py``; ``--check`` (what the tests and ``nox -s docs`` run) fails
when one is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from pywats_otel import semconv
from pywats_otel._config.settings import TelemetrySettings, setting_infos

__all__ = [
    "GENERATED",
    "KWARGS_PATH",
    "metrics_table",
    "settings_kwargs_source",
    "settings_table",
    "spans_table",
    "update",
]

KWARGS_PATH = Path(__file__).resolve().parents[1] / "_config" / "kwargs.py"


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


_PATHLIKE = "str | os.PathLike[str]"


def _kwarg_type(annotation: object) -> str:
    """The type a keyword argument accepts for a field of type ``annotation`` (None apart)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [_kwarg_type(arg) for arg in args if arg is not type(None)]
        return " | ".join(dict.fromkeys(part for kind in kinds for part in kind.split(" | ")))
    if origin is typing.Literal:
        return "Literal[" + ", ".join(f'"{arg}"' for arg in args) + "]"
    if origin is dict:
        # Header and resource attribute maps: also the k=v,k=v text of their variables.
        return "str | Mapping[str, str]"
    if origin is tuple:
        item = args[0]
        if item is Path:
            return f"{_PATHLIKE} | Sequence[{_PATHLIKE}]"
        return "str | Sequence[str]"
    if annotation is Path:
        return _PATHLIKE
    if annotation is SecretStr:
        return "str | SecretStr"
    if annotation in (bool, int, float, str):
        return annotation.__name__
    raise TypeError(f"no keyword argument type for {annotation!r}")


#: Fields whose validators accept more than their type says.
_KWARG_EXTRA = {"logs_level": "int"}


def settings_kwargs_source() -> str:
    """The source of ``pywats_otel/_config/kwargs.py``."""
    lines = [
        '"""The keyword arguments of ``init_telemetry()``: one per setting, typed.',
        "",
        "Generated from the declarations of ``TelemetrySettings`` by",
        "``python -m pywats_otel._tools.docs --write``; do not edit by hand.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import os",
        "from collections.abc import Mapping, Sequence",
        "from typing import Literal, TypedDict",
        "",
        "from pydantic import SecretStr",
        "",
        '__all__ = ["SettingsKwargs"]',
        "",
        "",
        "class SettingsKwargs(TypedDict, total=False):",
        '    """Every setting as a keyword argument; ``None`` means "not given".',
        "",
        "    See ``TelemetrySettings`` and docs/configuration.md for what each one means.",
        '    """',
        "",
    ]
    for name, field in TelemetrySettings.model_fields.items():
        kind = _kwarg_type(field.annotation)
        if name in _KWARG_EXTRA:
            kind = f"{kind} | {_KWARG_EXTRA[name]}"
        lines.append(f"    {name}: {kind} | None")
    return "\n".join(lines) + "\n"


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
    parser = argparse.ArgumentParser(prog="python -m pywats_otel._tools.docs")
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
    kwargs_source = settings_kwargs_source()
    if not KWARGS_PATH.exists() or KWARGS_PATH.read_text(encoding="utf-8") != kwargs_source:
        stale.append(KWARGS_PATH)
        if args.write:
            KWARGS_PATH.write_text(kwargs_source, encoding="utf-8")
    if stale and args.check:
        names = ", ".join(str(path) for path in stale)
        print(f"stale generated files {names}; run: python -m pywats_otel._tools.docs --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
