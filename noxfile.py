"""One command per chore: nox -s tests | lint | typecheck | docs | bench | screenshots."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"

CONSTRAINTS = ("-c", "constraints.txt")


def install(session: nox.Session, *packages: str) -> None:
    session.install(*CONSTRAINTS, *packages)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (integration ones start Prometheus and OTLP receivers)."""
    install(session, "-e", ".[test]")
    # Any value of PYTHONDEVMODE, "0" too, turns Python's development mode on: the tests run
    # with its checks (asyncio debug, resource warnings), as a careful developer would.
    session.run("pytest", *(session.posargs or ["tests"]), env={"PYTHONDEVMODE": "0"})


@nox.session(python=["3.10", "3.12", "3.13"])
def tests_other_pythons(session: nox.Session) -> None:
    """The tests on the other supported Pythons (those installed on this machine)."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and import-linter (the package's layers only look down)."""
    install(session, "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # grimp reads the package's source from the project folder; nothing is installed for it.
    session.run("lint-imports", env={"PYTHONPATH": os.getcwd()})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    install(session, "-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors, after checking generated tables are current."""
    install(session, "-e", ".[docs,test]")
    session.run("python", "-m", "pywats_otel._tools.docs", "--check")
    session.run("pytest", "-q", "tests/unit/test_docs.py")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", os.path.join(session.create_tmp(), "site")
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (instruction counts, Micro, Pipeline, Scale): results/results.md and .json.

    The counts section runs under valgrind (Debian package ``valgrind``); fastotel, a peer of
    the table, is installed here only: pywats_otel does not depend on it."""
    install(session, "-e", ".[test,bench]", "fastotel==0.9.1")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def screenshots(session: nox.Session) -> None:
    """The pictures of docs/images/ (about 2 minutes; not a default session): the demo's
    /traces and the real Prometheus UI in headless Chromium, the tree exporter's output.
    Needs Debian's chromium, chromium-driver and prometheus."""
    install(session, "-e", ".")
    session.run("python", "scripts/screenshots.py", *session.posargs)
