"""The demo's tester files: the formats written, and a refused format named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywats_otel._tools.demo import files
from pywats_otel._tools.demo.converters import parse_xml


def test_the_writer_rotates_through_the_formats_it_is_given(tmp_path: Path) -> None:
    """formats=("xml",) makes XML files only, each with the number of steps asked for."""
    writer = files.TestFileWriter(tmp_path, failure_rate=0.0, steps=1000, seed=3, formats=("xml",))
    paths = [writer.write() for _ in range(4)]
    assert [path.suffix for path in paths] == [".xml"] * 4
    reports = [parse_xml(path) for path in paths]
    assert [len(report["steps"]) for report in reports] == [1000] * 4
    assert len({report["serial"] for report in reports}) == 4


def test_the_writer_by_default_writes_all_three_formats(tmp_path: Path) -> None:
    """Without formats the writer rotates through csv, xml and txt."""
    writer = files.TestFileWriter(tmp_path, failure_rate=0.0, steps=5, seed=3)
    assert sorted(writer.write().suffix for _ in range(3)) == [".csv", ".txt", ".xml"]


def test_an_unknown_format_is_refused_with_the_known_ones() -> None:
    """A format the writer cannot write is a ValueError that lists the ones it can."""
    with pytest.raises(ValueError, match=r"csv, xml, txt.*'json'"):
        files.TestFileWriter(Path("."), failure_rate=0.0, steps=5, formats=("xml", "json"))
