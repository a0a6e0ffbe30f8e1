"""The docs match the code: the settings table, the README's commands and CI."""

from __future__ import annotations

import re
from pathlib import Path

from pywats_otel.cli import settings_markdown

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
