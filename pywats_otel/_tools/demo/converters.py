"""The demo's converters: tester files in, WATS report dicts out, each run traced.

Every converter goes through ``pywats_otel.converter.conversion``: a span per file, the
executions counter and the duration histogram by converter and status. A file without a serial
number is *rejected*; a file that does not parse *fails* (the exception is recorded and raised).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pywats_otel import converter, correlation

__all__ = ["CONVERTERS", "Conversion", "Rejected", "convert"]

Report = dict[str, Any]
_logger = logging.getLogger("pywats_otel.demo")


class Rejected(Exception):
    """The file is well-formed but cannot become a report (no serial number)."""


def _step(name: str, value: float, low: float, high: float, unit: str) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "low": low,
        "high": high,
        "unit": unit,
        "status": "Passed" if low <= value <= high else "Failed",
    }


def _report(serial: str | None, part: str, steps: list[dict[str, Any]], source: Path) -> Report:
    if not serial:
        raise Rejected(f"{source.name} has no serial number")
    return {
        "id": str(uuid.uuid4()),
        "serial": serial,
        "part": part,
        "result": "Failed" if any(s["status"] == "Failed" for s in steps) else "Passed",
        "steps": steps,
        "source": source.name,
    }


def parse_csv(path: Path) -> Report:
    text = path.read_text(encoding="utf-8")
    meta = dict(re.findall(r"^# (\w+)=(.*)$", text, re.MULTILINE))
    table = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    rows = csv.DictReader(io.StringIO(table))
    steps = [
        _step(row["step"], float(row["value"]), float(row["low"]), float(row["high"]), row["unit"])
        for row in rows
    ]
    return _report(meta.get("serial"), meta.get("part", ""), steps, path)


def parse_xml(path: Path) -> Report:
    root = ET.parse(path).getroot()  # noqa: S314 - the demo's own files
    steps = [
        _step(
            element.attrib["name"],
            float(element.attrib["value"]),
            float(element.attrib["low"]),
            float(element.attrib["high"]),
            element.attrib.get("unit", ""),
        )
        for element in root.iter("Step")
    ]
    return _report(root.attrib.get("serial"), root.attrib.get("part", ""), steps, path)


_TXT_STEP = re.compile(
    r"^(?P<name>[\w-]+): (?P<value>\S+) (?P<unit>\S+) \[(?P<low>\S+)\.\.(?P<high>\S+)\]$"
)


def parse_txt(path: Path) -> Report:
    serial, part, steps = None, "", []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("SERIAL: "):
            serial = line.removeprefix("SERIAL: ").strip()
        elif line.startswith("PART: "):
            part = line.removeprefix("PART: ").strip()
        elif match := _TXT_STEP.match(line):
            steps.append(
                _step(
                    match["name"],
                    float(match["value"]),
                    float(match["low"]),
                    float(match["high"]),
                    match["unit"],
                )
            )
    return _report(serial, part, steps, path)


CONVERTERS: dict[str, tuple[str, Callable[[Path], Report]]] = {
    ".csv": ("ict-csv", parse_csv),
    ".xml": ("functional-xml", parse_xml),
    ".txt": ("text-log", parse_txt),
}


@dataclass(frozen=True)
class Conversion:
    status: str
    trace_id: str
    error: str = ""


def convert(path: Path, on_report: Callable[[Report], None]) -> Conversion:
    """Convert one file and hand the report to ``on_report`` inside the conversion's span.

    A parse error is recorded on the span as failed (pywats_otel re-raises it) and returned
    here as a failed Conversion with the trace ID to look up.
    """
    entry = CONVERTERS.get(path.suffix)
    if entry is None:
        with converter.conversion("unknown", source=path) as run:
            run.status = "skipped"
            return Conversion("skipped", correlation.current_correlation_id())
    name, parse = entry
    trace_id = ""
    try:
        with converter.conversion(name, source=path) as run:
            trace_id = correlation.current_correlation_id()
            try:
                report = parse(path)
            except Rejected as rejected:
                # Logged inside the span: the record carries the conversion's trace ID.
                _logger.info("%s", rejected)
                run.status = "rejected"
                return Conversion("rejected", trace_id)
            except (OSError, ValueError, KeyError, ET.ParseError) as exc:
                _logger.warning(
                    "conversion of %s failed: %s: %s", path.name, type(exc).__name__, exc
                )
                raise  # pywats_otel records the run as failed, with the exception
            run.records = len(report["steps"])
            on_report(report)
    except (OSError, ValueError, KeyError, ET.ParseError) as exc:
        return Conversion("failed", trace_id, f"{type(exc).__name__}: {exc}")
    return Conversion("success", trace_id)
