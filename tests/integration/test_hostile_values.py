"""Values a program may record that /metrics used to serve wrong or not at all, checked on a real
scrape with `promtool check metrics` and prometheus_client's OpenMetrics parser."""

from __future__ import annotations

import logging
import os
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from opentelemetry import metrics
from prometheus_client import Gauge
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from pywats_otel import init_telemetry, queue, semconv
from pywats_otel._pipeline.telemetry import Telemetry

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture
def telemetry() -> Telemetry:
    return init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0, instrumentations="none")


def _enqueue(name: str) -> None:
    with queue.enqueue(name, {}):
        pass


def _scrape(telemetry: Telemetry, accept: str = "text/plain") -> bytes:
    assert telemetry.metrics_url is not None
    request = urllib.request.Request(telemetry.metrics_url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def _valid(promtool: str, text: bytes, telemetry: Telemetry) -> dict[str, list[Any]]:
    """promtool accepts the text scrape and the OpenMetrics parser the OpenMetrics one; the
    parsed samples by name."""
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    parsed: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(_scrape(telemetry, OPENMETRICS).decode()):
        for sample in family.samples:
            parsed.setdefault(sample.name, []).append(sample)
    return parsed


def test_a_lone_surrogate_in_a_label_value_is_replaced_counted_and_never_500s(
    telemetry: Telemetry, promtool: str
) -> None:
    """A queue named from a non-UTF-8 file name failed every later scrape with HTTP 500."""
    name = os.fsdecode(b"inbox-caf\xe9")  # a byte that is not UTF-8: a lone surrogate
    _enqueue(name)
    _enqueue("reports")
    first, second = _scrape(telemetry), _scrape(telemetry)
    assert b'pywats_queue_name="inbox-caf\\\\xe9"' in first
    parsed = _valid(promtool, second, telemetry)
    enqueued = parsed["pywats_queue_enqueued_total"]
    names = {s.labels["pywats_queue_name"]: s.value for s in enqueued}
    assert names == {"inbox-caf\\xe9": 1.0, "reports": 1.0}
    assert telemetry.status()["cardinality"]["replaced_values"] == {
        semconv.QUEUE_ENQUEUED: {"prometheus": 1}
    }
    [replaced] = parsed["pywats_otel_metric_replaced_values_total"]
    assert replaced.labels["pywats_otel_metric_name"] == semconv.QUEUE_ENQUEUED
    assert replaced.value == 1.0


def test_keys_that_become_one_label_are_merged_deterministically(
    telemetry: Telemetry, promtool: str
) -> None:
    """a.b and a_b are both label a_b: values joined in key order, equal series added up."""
    counter = metrics.get_meter("station").create_counter("station.uploads", description="Up.")
    counter.add(1, {"a.b": "x"})
    counter.add(2, {"a_b": "x"})
    counter.add(4, {"a_b": "2", "a.b": "1"})
    counter.add(8, {"a.b": "y"})
    parsed = _valid(promtool, _scrape(telemetry), telemetry)
    served = {s.labels["a_b"]: s.value for s in parsed["station_uploads_total"]}
    assert served == {"x": 3.0, "1;2": 4.0, "y": 8.0}


def test_line_breaks_in_label_values_are_escaped(telemetry: Telemetry, promtool: str) -> None:
    """A raw carriage return in a label value split the line for line-oriented readers."""
    gauge = metrics.get_meter("station").create_gauge(
        "station.fixture.temperature", description="T."
    )
    gauge.set(21.5, {"fixture": "bay 1\rbay 2", "note": "a\u2028b\x0cc"})
    text = _scrape(telemetry)
    [line] = [
        line for line in text.decode().splitlines() if line.startswith("station_fixture_temp")
    ]
    assert line.endswith(" 21.5")
    assert 'fixture="bay 1\\\\rbay 2"' in line
    assert 'note="a\\\\u2028b\\\\x0cc"' in line
    parsed = _valid(promtool, text, telemetry)
    [sample] = parsed["station_fixture_temperature"]
    assert sample.labels["fixture"] == "bay 1\\rbay 2"


def test_a_family_that_fails_takes_no_other_down(
    telemetry: Telemetry, promtool: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A prometheus_client metric of the program's own in the endpoint's registry, with a
    value that is not UTF-8, and a collector that raises: the rest is served, valid."""
    assert telemetry.endpoint is not None
    registry = telemetry.endpoint.registry
    legacy = Gauge("legacy_files", "Files per folder.", ["folder"], registry=registry)
    legacy.labels(os.fsdecode(b"/data/caf\xe9")).set(3)

    class Broken:
        def collect(self) -> Any:
            raise RuntimeError("this collector is broken")

    registry.register(Broken())  # type: ignore[arg-type]
    _enqueue("reports")
    with caplog.at_level(logging.WARNING, logger="pywats_otel"):
        text = _scrape(telemetry)
        _scrape(telemetry)
    parsed = _valid(promtool, text, telemetry)
    assert [s.value for s in parsed["pywats_queue_enqueued_total"]] == [1.0]
    assert [s.labels["folder"] for s in parsed["legacy_files"]] == ["/data/caf\\xe9"]
    left_out = [r.getMessage() for r in caplog.records if "left out of /metrics" in r.getMessage()]
    assert left_out == [
        "pywats_otel: the collector "
        "test_a_family_that_fails_takes_no_other_down.<locals>.Broken is left out of /metrics: "
        "RuntimeError: this collector is broken"
    ]
    assert telemetry.status()["cardinality"]["replaced_values"] == {
        "legacy_files": {"prometheus": 1}
    }


def test_a_scrape_never_logs_a_traceback_per_request(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten scrapes with a hostile value: no error, no traceback in the log."""
    _enqueue(os.fsdecode(b"caf\xe9"))
    with caplog.at_level(logging.DEBUG, logger="pywats_otel"):
        for _ in range(10):
            try:
                _scrape(telemetry)
            except urllib.error.HTTPError as error:  # pragma: no cover - the old behaviour
                pytest.fail(f"/metrics answered {error.code}")
    assert not [r for r in caplog.records if r.exc_info]
