"""Checked by mypy (``nox -s typecheck``), not run: init_telemetry()'s keyword arguments are
typed, so a misspelled or mistyped setting is an error in the editor and in CI.

Each ``type: ignore`` below must be needed: mypy --strict reports an unused one, so these lines
fail the typecheck as soon as the typing stops catching the mistake.
"""

from __future__ import annotations

from pathlib import Path

from pywats_otel import init_telemetry
from pywats_otel.testing import capture_telemetry


def well_typed() -> None:
    init_telemetry(
        service_name="station-7",
        prometheus_port=9464,
        traces_exporter=["otlp", "console"],
        otlp_headers={"api-key": "x"},
        otlp_protocol="http/protobuf",
        disk_paths=[Path("/var/lib/pywats"), "/tmp"],
        logs_level=20,
        sampler_arg=None,
    )


def misspelled() -> None:
    init_telemetry(prometheus_prot=9464)  # type: ignore[call-arg]


def mistyped() -> None:
    init_telemetry(prometheus_port=[9464])  # type: ignore[arg-type]
    init_telemetry(otlp_protocol="udp")  # type: ignore[arg-type]


def misspelled_in_tests() -> None:
    with capture_telemetry(servce_name="test"):  # type: ignore[call-arg]
        pass
