"""What each setting is in effect, and where each signal goes: what ``pywats-otel settings``
and ``pywats-otel check`` show, in one layout.

A setting left unset shows the value that applies instead ("none (no OTLP endpoint)", the
endpoint an OTLP exporter uses, the ratio a sampler uses), not ``None``; secrets show as
``***``. The per-signal OTLP settings that are unset are folded into one line per signal:
they are the general ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pywats_otel._config.otlp import otlp_options
from pywats_otel._config.settings import SIGNALS, setting_infos

if TYPE_CHECKING:
    from pywats_otel._config.settings import Signal, TelemetrySettings

__all__ = ["Row", "destinations", "effective_rows", "render_rows"]

_SIGNAL_OPTIONS = (
    "endpoint",
    "protocol",
    "headers",
    "timeout",
    "compression",
    "certificate",
    "client_key",
    "client_certificate",
    "insecure",
)
_OTHERS = {
    "console": "console (standard output, the SDK's JSON)",
    "tree": "tree (standard output, one tree per trace)",
    "memory": "memory (pywats_otel.testing)",
}
_PER_SIGNAL = {f"otlp_{signal}_{option}" for signal in SIGNALS for option in _SIGNAL_OPTIONS}


@dataclass(frozen=True)
class Row:
    """One line: a setting (or a group), its value in effect and where it came from."""

    name: str
    value: str
    source: str


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "(empty)"
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items()) or "(none)"
    return str(value)


def _unset(settings: TelemetrySettings, name: str) -> tuple[str, str]:
    """(value in effect, source) of a setting that is not given."""
    signal_name = name.removesuffix("_exporter")
    if signal_name in SIGNALS:
        names = settings.exporters(signal_name)  # type: ignore[arg-type]
        endpoint = settings.otlp_endpoint or getattr(settings, f"otlp_{signal_name}_endpoint")
        reason = "an OTLP endpoint is set" if endpoint else "no OTLP endpoint"
        return (",".join(names) or "none"), f"default ({reason})"
    if name == "otlp_endpoint":
        return "unset (otlp exporters use localhost:4317 for grpc, :4318 for HTTP)", "default"
    if name == "otlp_insecure":
        return "unset (from each endpoint's scheme: http means without TLS)", "default"
    if name == "otlp_certificate":
        return "unset (the system's trusted CAs)", "default"
    if name == "sampler_arg":
        ratio = settings.sampler.endswith("traceidratio")
        return ("1.0" if ratio else f"unset (not used by {settings.sampler})"), "default"
    return "unset", "default"


def effective_rows(settings: TelemetrySettings) -> list[Row]:
    """Every setting as shown by ``settings`` and ``check``, in declaration order; the unset
    per-signal OTLP settings folded into one row per signal, after the set ones."""
    values = settings.redacted()
    rows: list[Row] = []
    unset: dict[str, list[str]] = {signal: [] for signal in SIGNALS}
    fold_at = 0
    for info in setting_infos():
        value = values[info.name]
        source = settings.source_of(info.name)
        if info.name in _PER_SIGNAL:
            if value is None:
                unset[info.name.split("_")[1]].append(info.name.split("_", 2)[2])
                fold_at = len(rows)
                continue
            fold_at = len(rows) + 1
        if value is None or (info.name.removesuffix("_exporter") in SIGNALS and not value):
            shown, source = _unset(settings, info.name) if value is None else ("none", source)
        else:
            shown = _text(value)
        rows.append(Row(info.name, shown, source))
    folded = [
        Row(
            f"otlp_{signal}_*",
            "unset: as the general otlp_* settings"
            if len(options) == len(_SIGNAL_OPTIONS)
            else f"unset ({', '.join(options)}): as the general ones",
            "default",
        )
        for signal, options in unset.items()
        if options
    ]
    return rows[:fold_at] + folded + rows[fold_at:]


def destinations(settings: TelemetrySettings) -> list[Row]:
    """Where each signal goes: one row per exporter, or one saying it is not exported."""
    rows: list[Row] = []
    for signal in cast("tuple[Signal, ...]", SIGNALS):
        names = settings.exporters(signal)
        source = settings.source_of(f"{signal}_exporter")
        if not names:
            why = (
                f"{signal}_exporter is none"
                if source != "default"
                else "no OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or "
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
            )
            rows.append(Row(signal, f"not exported ({why})", source))
            continue
        for name in names:
            if name == "otlp":
                options = otlp_options(settings, signal)
                rows.append(
                    Row(
                        signal,
                        f"otlp {options.protocol} {options.shown_endpoint}",
                        f"endpoint from {options.sources['endpoint']}, "
                        f"protocol from {options.sources['protocol']}",
                    )
                )
            elif name == "prometheus":
                rows.append(
                    Row(
                        signal,
                        f"prometheus http://{settings.prometheus_host}:{settings.prometheus_port}"
                        "/metrics (pulled by a scraper)",
                        f"{signal}_exporter ({source})",
                    )
                )
            else:
                shown = _OTHERS.get(name, f"{name} (a plug-in exporter)")
                rows.append(Row(signal, shown, f"{signal}_exporter ({source})"))
    return rows


def render_rows(rows: list[Row], indent: str = "") -> list[str]:
    """The rows as aligned text lines: name, value, [source]."""
    if not rows:
        return []
    width = max(len(row.name) for row in rows)
    return [f"{indent}{row.name:<{width}}  {row.value}  [{row.source}]" for row in rows]
