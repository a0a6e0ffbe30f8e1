"""Every test starts with no telemetry, no OTEL_*/PYWATS_OTEL_* variables, the root logger and
the LogRecordFactory as they were; unit tests touch no network (integration tests: 127.0.0.1)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from pywats_otel.testing import reset_telemetry


@pytest.fixture(autouse=True)
def clean_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "PYWATS_OTEL_")):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    reset_telemetry()
    yield
    reset_telemetry()
    root.handlers[:] = handlers
    root.setLevel(level)
    # A test that failed half-way must not leave its record factory to the next tests.
    logging.setLogRecordFactory(factory)
