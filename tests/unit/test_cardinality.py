"""The cardinality limit: at most metric_cardinality_limit series per metric and reader, the rest
counted in one overflow series, totals kept; counted, warned once; the program's instruments
limited too, a MeterProvider of its own not."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from pywats_otel import semconv
from pywats_otel.testing import capture_telemetry

OVERFLOW = {"otel.metric.overflow": True}


def _serials(count: int) -> list[dict[str, str]]:
    return [{"serial": f"SN{index:06d}", "station": "7"} for index in range(count)]


def test_ten_thousand_serials_keep_two_thousand_series_and_every_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user's counter and histogram with 10,000 serial numbers: 1,999 series plus the overflow
    series (the limit of 2,000 counts it), the total of 10,000 kept; counted and warned once."""
    with caplog.at_level(logging.WARNING, logger="pywats_otel"), capture_telemetry() as captured:
        meter = metrics.get_meter("station")
        tests = meter.create_counter("station.tests")
        duration = meter.create_histogram("station.test.duration", unit="s")
        for attributes in _serials(10_000):
            tests.add(1, attributes)
            duration.record(0.5, attributes)
        tests.add(5, _serials(1)[0])  # a series made before the limit keeps counting
        points = captured.metric_points("station.tests")
        histogram = captured.metric_points("station.test.duration")
        status = captured.telemetry.status()["cardinality"]
        overflow = captured.metric_value(
            semconv.OTEL_METRIC_OVERFLOW_MEASUREMENTS,
            {semconv.OTEL_METRIC_NAME: "station.tests", semconv.OTEL_EXPORTER: "memory"},
        )
    assert len(points) == 2000
    values = {attributes.get("serial", "overflow"): point.value for attributes, point in points}
    assert values["SN000000"] == 6
    assert values["overflow"] == 8001
    assert [attributes for attributes, _ in points if "serial" not in attributes] == [OVERFLOW]
    assert sum(values.values()) == 10_005
    assert len(histogram) == 2000
    assert sum(point.count for _, point in histogram) == 10_000
    assert sum(point.sum for _, point in histogram) == 5_000.0
    assert status == {
        "limit": 2000,
        "overflow": {
            "station.tests": {"memory": 8001},
            "station.test.duration": {"memory": 8001},
        },
        "replaced_values": {},
    }
    assert overflow == 8001
    warnings = [r.getMessage() for r in caplog.records if "cardinality limit" in r.getMessage()]
    assert len(warnings) == 2
    assert "metric station.tests reached the cardinality limit of 2000 series" in warnings[0]


@pytest.mark.parametrize(("limit", "series"), [("10", 10), ("0", 3000)])
def test_the_limit_is_a_setting_and_zero_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, limit: str, series: int
) -> None:
    monkeypatch.setenv("PYWATS_OTEL_METRIC_CARDINALITY_LIMIT", limit)
    with capture_telemetry() as captured:
        counter = metrics.get_meter("station").create_counter("station.tests")
        for attributes in _serials(3000):
            counter.add(2, attributes)
        points = captured.metric_points("station.tests")
    assert len(points) == series
    assert sum(point.value for _, point in points) == 6000


def test_an_observable_instrument_keeps_its_first_observed_series() -> None:
    """An observable gauge keeps its first-observed series and one overflow series."""

    def depths(options: metrics.CallbackOptions) -> list[metrics.Observation]:
        return [metrics.Observation(index, {"queue": f"q{index}"}) for index in range(8)]

    with capture_telemetry(metric_cardinality_limit=4) as captured:
        metrics.get_meter("station").create_observable_gauge("station.depth", callbacks=[depths])
        points = captured.metric_points("station.depth")
    assert sorted(str(attributes) for attributes, _ in points) == [
        "{'otel.metric.overflow': True}",
        "{'queue': 'q0'}",
        "{'queue': 'q1'}",
        "{'queue': 'q2'}",
    ]


def test_a_meter_provider_of_the_programs_own_is_not_limited() -> None:
    """Only pywats_otel's readers are limited: the SDK patch leaves other providers as they were."""
    reader = InMemoryMetricReader()
    own = MeterProvider(metric_readers=[reader])
    try:
        with capture_telemetry(metric_cardinality_limit=5):
            counter = own.get_meter("own").create_counter("own.tests")
            for attributes in _serials(50):
                counter.add(1, attributes)
            data = reader.get_metrics_data()
    finally:
        own.shutdown()
    assert data is not None
    [metric] = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert len(metric.data.data_points) == 50
