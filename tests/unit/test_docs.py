"""The docs match the code: the generated tables, the README's commands and CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pywats_otel import semconv
from pywats_otel._tools import docs as _docs
from pywats_otel.testing import capture_telemetry

ROOT = Path(__file__).resolve().parents[2]


def _between(text: str, name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert match, f"markers of {name} missing"
    return match.group(1)


@pytest.mark.parametrize(
    ("page", "block"),
    [
        ("configuration.md", "settings-table"),
        ("reference.md", "metrics-table"),
        ("reference.md", "spans-table"),
    ],
)
def test_generated_tables_are_current(page: str, block: str) -> None:
    """Each generated table in docs/ equals what its single declaration gives now."""
    text = (ROOT / "docs" / page).read_text()
    assert _between(text, block) == _docs.GENERATED[block](), (
        "regenerate: python -m pywats_otel._tools.docs --write"
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


def test_reference_tables_name_every_metric_and_span_with_its_prometheus_name() -> None:
    """docs/reference.md lists each semconv metric (OTel and Prometheus name) and span once."""
    text = (ROOT / "docs" / "reference.md").read_text()
    metrics = _between(text, "metrics-table")
    for metric in semconv.METRICS:
        [row] = [line for line in metrics.splitlines() if line.startswith(f"| `{metric.name}` |")]
        assert f"`{semconv.prometheus_name(metric)}`" in row
        assert f"| {metric.kind} |" in row
    spans = _between(text, "spans-table")
    for span in semconv.SPANS:
        assert sum(line.startswith(f"| `{span.name}` |") for line in spans.splitlines()) == 1


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
