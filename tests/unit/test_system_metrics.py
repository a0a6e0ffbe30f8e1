"""The system instrumentation: process and system metrics read with psutil at collection."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from pywats_otel import semconv
from pywats_otel.instrumentation import system as system_metrics
from pywats_otel.testing import capture_telemetry

DESIGN_NAMES = (
    semconv.PROCESS_CPU_UTILIZATION,
    semconv.PROCESS_MEMORY_USAGE,
    semconv.PROCESS_THREAD_COUNT,
    semconv.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT,
    semconv.SYSTEM_CPU_UTILIZATION,
    semconv.SYSTEM_MEMORY_UTILIZATION,
    semconv.SYSTEM_FILESYSTEM_UTILIZATION,
)


@pytest.fixture
def short_cpu_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system_metrics, "MIN_CPU_WINDOW_S", 0.05)


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


@pytest.mark.usefixtures("short_cpu_window")
def test_system_instrumentation_reports_the_design_metrics(tmp_path: Path) -> None:
    """Each DESIGN metric has a point whose value matches what psutil reads at the same time."""
    with capture_telemetry(instrumentations="system", disk_paths=str(tmp_path)) as captured:
        _busy(0.1)
        time.sleep(0.06)
        process = psutil.Process()
        rss = process.memory_info().rss
        threads = process.num_threads()
        disk = psutil.disk_usage(str(tmp_path)).percent / 100
        points = {name: captured.metric_points(name) for name in DESIGN_NAMES}
        assert captured.telemetry.instrumentations == ("system",)

    [(_, memory)] = points[semconv.PROCESS_MEMORY_USAGE]
    assert abs(memory.value - rss) < 0.2 * rss
    [(_, thread_count)] = points[semconv.PROCESS_THREAD_COUNT]
    assert abs(thread_count.value - threads) <= 2
    if sys.platform != "win32":
        [(_, fds)] = points[semconv.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT]
        assert fds.value == pytest.approx(process.num_fds(), abs=5)
    [(_, process_cpu)] = points[semconv.PROCESS_CPU_UTILIZATION]
    assert 0.0 < process_cpu.value <= 1.0
    modes = {
        attrs[semconv.CPU_MODE]: point.value
        for attrs, point in points[semconv.SYSTEM_CPU_UTILIZATION]
    }
    assert {"user", "system", "idle"} <= set(modes)
    assert sum(modes.values()) == pytest.approx(1.0)
    [(memory_attrs, memory_used)] = points[semconv.SYSTEM_MEMORY_UTILIZATION]
    assert memory_attrs == {semconv.SYSTEM_MEMORY_STATE: "used"}
    assert 0.0 < memory_used.value < 1.0
    [(fs_attrs, fs_used)] = points[semconv.SYSTEM_FILESYSTEM_UTILIZATION]
    assert fs_attrs[semconv.SYSTEM_FILESYSTEM_STATE] == "used"
    assert Path(fs_attrs[semconv.SYSTEM_FILESYSTEM_MOUNTPOINT]) in (
        tmp_path.resolve(),
        *tmp_path.resolve().parents,
    )
    assert fs_used.value == pytest.approx(disk, abs=0.01)


def test_instruments_carry_units_and_descriptions() -> None:
    """Every system instrument has the semconv unit and a description (promtool needs HELP)."""
    with capture_telemetry(instrumentations="system") as captured:
        data = captured.metric_reader.get_metrics_data()
    found = {
        metric.name: metric
        for resource_metrics in data.resource_metrics  # type: ignore[union-attr]
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    for name in (semconv.PROCESS_MEMORY_USAGE, semconv.SYSTEM_FILESYSTEM_UTILIZATION):
        info = semconv.metric_info(name)
        assert (found[name].unit, found[name].description) == (info.unit, info.description)
        assert info.description


def test_cpu_utilization_is_absent_before_one_window_and_then_reused() -> None:
    """Readings closer than the window reuse the last value; none before the first window."""
    collector = system_metrics.SystemMetrics()
    assert collector.process_cpu_utilization() == []
    collector._baseline = system_metrics._CpuSample(
        collector._baseline.at - 2.0, collector._baseline.process, collector._baseline.system
    )
    _busy(0.05)
    [first] = collector.process_cpu_utilization()
    [again] = collector.process_cpu_utilization()
    assert again.value == first.value
    system = {o.attributes[semconv.CPU_MODE]: o.value for o in collector.system_cpu_utilization()}  # type: ignore[index]
    assert sum(system.values()) == pytest.approx(1.0)


def test_paths_on_one_filesystem_give_one_series(tmp_path: Path) -> None:
    """Two folders on the same filesystem (and a missing one) are measured once."""
    (tmp_path / "a").mkdir()
    collector = system_metrics.SystemMetrics(
        [tmp_path / "a", tmp_path, tmp_path / "not" / "created"]
    )
    [observation] = collector.system_filesystem_utilization()
    mountpoint = Path(str(observation.attributes[semconv.SYSTEM_FILESYSTEM_MOUNTPOINT]))  # type: ignore[index]
    assert mountpoint in (tmp_path.resolve(), *tmp_path.resolve().parents)


def test_undo_silences_the_callbacks() -> None:
    """After undo the instruments, which a MeterProvider cannot drop, report nothing."""
    with capture_telemetry(instrumentations="none") as captured:
        undo = system_metrics.turn_on(captured.telemetry.settings)
        assert captured.metric_points(semconv.PROCESS_MEMORY_USAGE) != []
        undo()
        assert captured.metric_points(semconv.PROCESS_MEMORY_USAGE) == []
        assert captured.metric_points(semconv.SYSTEM_FILESYSTEM_UTILIZATION) == []


def test_shutdown_undoes_the_system_instrumentation() -> None:
    """Telemetry.shutdown() turns the instrumentation off, so a later provider sees nothing."""
    with capture_telemetry(instrumentations="system") as captured:
        assert system_metrics._current is not None
        captured.telemetry.shutdown(timeout_s=2)
        assert system_metrics._current is None


def test_a_failing_reading_is_logged_once_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A psutil error in one callback leaves that metric out, warns once, and no more."""

    def denied(self: system_metrics.SystemMetrics) -> list[object]:
        raise psutil.AccessDenied(os.getpid())

    monkeypatch.setattr(system_metrics.SystemMetrics, "process_thread_count", denied)
    with caplog.at_level(logging.WARNING), capture_telemetry(instrumentations="system") as captured:
        for _ in range(3):
            assert captured.metric_points(semconv.PROCESS_THREAD_COUNT) == []
            assert len(captured.metric_points(semconv.PROCESS_MEMORY_USAGE)) == 1
    warnings = [r.getMessage() for r in caplog.records if "process.thread.count" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("pywats_otel: cannot read process.thread.count: ")


def test_measure_disk_reports_the_folder_it_measured(tmp_path: Path) -> None:
    """measure_disk() of a missing folder measures its nearest existing parent."""
    usage = system_metrics.measure_disk(tmp_path / "later")
    assert usage.measured == tmp_path
    assert usage.total_bytes > 0
    assert 0 <= usage.percent <= 100
