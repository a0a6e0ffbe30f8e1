"""Every test starts with no telemetry, no health checks, no OTEL_*/PYWATS_OTEL_* variables,
the root logger and the LogRecordFactory as they were; unit tests touch no network
(integration tests are marked and use 127.0.0.1)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context

from pywats_otel import health
from pywats_otel._base.ratelimit import reset_warnings
from pywats_otel._base.redact import set_secrets
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
    reset_warnings()
    # The process-wide list of secrets to scrub only grows: each test starts with none.
    set_secrets(())
    health.default_registry().clear()
    # Each test starts in an empty OpenTelemetry context; what it attached and left (as
    # correlation_id_factory() does on purpose) goes with it.
    token = otel_context.attach(otel_context.Context())
    yield
    otel_context.detach(token)
    reset_telemetry()
    health.default_registry().clear()
    root.handlers[:] = handlers
    root.setLevel(level)
    # A test that failed half-way must not leave its record factory to the next tests.
    logging.setLogRecordFactory(factory)


CertMaker = Callable[..., tuple[Path, Path]]


@pytest.fixture
def make_cert(tmp_path: Path) -> CertMaker:
    """``make_cert(name, common_name)`` -> (certificate, key): a self-signed PEM pair made by
    openssl in the test's folder, valid for 127.0.0.1 and localhost."""
    openssl = shutil.which("openssl")
    if openssl is None:
        message = "the openssl command is not installed (apt-get install -y openssl)"
        if os.environ.get("PYWATS_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{message}; CI (PYWATS_TEST_REQUIRE_PROMETHEUS=1) requires it")
        pytest.skip(message)

    def make(name: str = "cert", common_name: str = "127.0.0.1") -> tuple[Path, Path]:
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={common_name}",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return cert, key

    return make


@pytest.fixture
def self_signed_cert(make_cert: CertMaker) -> tuple[Path, Path]:
    """(certificate, key): a self-signed PEM pair for 127.0.0.1 and localhost, made by openssl."""
    return make_cert()


class FakeClock:
    """A clock that stands still until the test moves ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock of the export reports (a warning per exporter per minute), moved by hand."""
    from pywats_otel._pipeline import export

    fake = FakeClock()
    monkeypatch.setattr(export, "_clock", fake)
    return fake
