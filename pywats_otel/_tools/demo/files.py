"""Tester output files of the demo: ICT results as CSV, functional tests as XML, text logs.

A share of the files is broken on purpose (``failure_rate``): truncated XML, a CSV value that
is not a number, a text log without a serial number, so that converter failures and rejections
show in the telemetry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

__all__ = ["FORMATS", "TestFileWriter"]

FORMATS = ("csv", "xml", "txt")


@dataclass(frozen=True)
class _Step:
    name: str
    value: float
    low: float
    high: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.low <= self.value <= self.high


class TestFileWriter:
    """Writes one file per call into ``inbox``, rotating through ``formats``."""

    def __init__(
        self,
        inbox: Path,
        *,
        failure_rate: float,
        steps: int,
        seed: int | None = None,
        formats: tuple[str, ...] = FORMATS,
    ) -> None:
        unknown = sorted(set(formats) - set(FORMATS))
        if not formats or unknown:
            raise ValueError(f"formats must be some of {', '.join(FORMATS)}, not {formats!r}")
        self.inbox = inbox
        self.failure_rate = failure_rate
        self.steps = steps
        self.formats = formats
        # Test data, not secrets: a seeded generator makes a run repeatable.
        self._random = random.Random(seed)  # noqa: S311
        self._count = 0

    def _steps(self) -> list[_Step]:
        result = []
        for index in range(self.steps):
            nominal = self._random.choice((3.3, 5.0, 12.0, 100.0, 1000.0))
            # About one step in two hundred falls out of its limits: some reports fail.
            spread = 0.08 if self._random.random() < 0.005 else 0.02
            value = nominal * (1 + self._random.uniform(-spread, spread))
            result.append(
                _Step(f"step-{index:04d}", round(value, 4), nominal * 0.95, nominal * 1.05, "V")
            )
        return result

    def write(self) -> Path:
        self._count += 1
        kind = self.formats[self._count % len(self.formats)]
        serial = f"SN{self._random.randrange(10**7):07d}"
        broken = self._random.random() < self.failure_rate
        steps = self._steps()
        name = f"{self._count:06d}-{serial}.{kind}"
        if kind == "csv":
            text = self._csv(serial, steps, broken)
        elif kind == "xml":
            text = self._xml(serial, steps, broken)
        else:
            text = self._txt(serial, steps, broken)
        # Write under a temporary name first so the station never reads half a file.
        partial = self.inbox / (name + ".partial")
        partial.write_text(text, encoding="utf-8")
        path = self.inbox / name
        partial.replace(path)
        return path

    @staticmethod
    def _csv(serial: str, steps: list[_Step], broken: bool) -> str:
        lines = [f"# serial={serial}", "# part=PCB-1042 rev C", "step,value,low,high,unit"]
        for index, step in enumerate(steps):
            value = "n/a" if broken and index == len(steps) // 2 else f"{step.value}"
            lines.append(f"{step.name},{value},{step.low},{step.high},{step.unit}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _xml(serial: str, steps: list[_Step], broken: bool) -> str:
        rows = "\n".join(
            f'    <Step name={quoteattr(s.name)} value="{s.value}" low="{s.low}" '
            f'high="{s.high}" unit={quoteattr(s.unit)}/>'
            for s in steps
        )
        text = (
            f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<TestRun serial={quoteattr(serial)} part="PCB-1042" revision="C">\n'
            f"  <Steps>\n{rows}\n  </Steps>\n</TestRun>\n"
        )
        return text[: len(text) // 2] if broken else text

    @staticmethod
    def _txt(serial: str, steps: list[_Step], broken: bool) -> str:
        header = "" if broken else f"SERIAL: {serial}\n"
        body = "".join(f"{s.name}: {s.value} {s.unit} [{s.low}..{s.high}]\n" for s in steps)
        return f"{header}PART: PCB-1042\nREV: C\n{body}"
