"""The docs match the code: the settings table, the README's commands and CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pywats_otel import semconv
from pywats_otel.cli import settings_markdown
from pywats_otel.testing import capture_telemetry

ROOT = Path(__file__).resolve().parents[2]


def _between(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert match, f"markers of {name} missing"
    return match.group(1)


def test_configuration_table_is_generated_from_the_declarations() -> None:
    """docs/configuration.md holds exactly what `pywats-otel settings --markdown` prints."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert _between(text, "settings-table") == settings_markdown(), (
        "regenerate: pywats-otel settings --markdown"
    )


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls the test command the README gives a new user."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.DOTALL)
    test_command = next(command for command in commands if "nox" in command)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
    assert "apt-get install -y" in ci
    assert "prometheus" in ci


def test_readme_main_command_runs_the_demo() -> None:
    """The README's first command installs the package and runs `pywats-otel demo`."""
    readme = (ROOT / "README.md").read_text()
    first = re.findall(r"```bash\n(.*?)\n```", readme, re.DOTALL)[0]
    assert first.endswith("pywats-otel demo")


def _first_column(text: str, heading: str) -> set[str]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[0].startswith("`") and cells[0].endswith("`"):
            names.add(cells[0].strip("`"))
    return names


def test_reference_lists_exactly_the_metrics_and_spans() -> None:
    """docs/reference.md names every metric of semconv.METRICS and every span, and no other."""
    text = (ROOT / "docs" / "reference.md").read_text()
    assert _first_column(text, "Metrics") == {metric.name for metric in semconv.METRICS}
    assert _first_column(text, "Spans") == {span.name for span in semconv.SPANS}


def test_reference_gives_each_metric_its_kind_unit_and_attributes() -> None:
    """Each metric row shows the kind, the unit and the attributes that semconv declares."""
    text = (ROOT / "docs" / "reference.md").read_text()
    rows = {
        cells[0].strip("`"): cells
        for cells in (
            [cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.split("## Metrics\n", 1)[1].split("\n## ", 1)[0].splitlines()
        )
        if cells[0].startswith("`")
    }
    for metric in semconv.METRICS:
        _, _, kind, unit, attributes, _ = rows[metric.name]
        assert kind == metric.kind
        assert unit == f"`{metric.unit}`"
        assert re.findall(r"`([^`]+)`", attributes) == list(metric.attributes)


def test_instrumentation_page_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python examples of docs/instrumentation.md run (the one that reaches a real server
    is only compiled: unit tests touch no network)."""
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "instrumentation.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 7
    for block in blocks:
        code = compile(block, "docs/instrumentation.md", "exec")
        if "base_url=" in block:
            continue
        namespace: dict[str, object] = {}
        with capture_telemetry():
            exec(code, namespace)
            for name, value in list(namespace.items()):
                if name.startswith("test_") and callable(value):
                    value()
            undo = namespace.get("undo")  # a depth callback the example registered
            if callable(undo):
                undo()
    assert "upload {'serial': 'SN-1001'}" in capsys.readouterr().out
