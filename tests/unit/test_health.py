"""Health checks: registry, timeouts, caching, statuses, the /health answers and their metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from pywats_otel import __version__, health, semconv
from pywats_otel._pipeline import builtin_checks as _builtin_checks
from pywats_otel.instrumentation import system as system_metrics
from pywats_otel.testing import capture_telemetry

DiskUsage = namedtuple("DiskUsage", "total used free percent")


def _quiet_disk(monkeypatch: pytest.MonkeyPatch, percent: float = 40.0) -> None:
    """The disk check measures this made-up filesystem instead of the real one."""
    total = 100 * 2**30
    used = int(total * percent / 100)
    monkeypatch.setattr(
        system_metrics.psutil,
        "disk_usage",
        lambda path: DiskUsage(total, used, total - used, percent),
    )


def test_health_json_carries_the_documented_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/health names service, versions, start time, uptime, each check and each exporter."""
    _quiet_disk(monkeypatch)
    health.register_check("wats-server", lambda: "answered in 12 ms", critical=False)
    with capture_telemetry(
        service_name="station-7", service_version="3.1.4", disk_paths=str(tmp_path)
    ) as captured:
        with trace.get_tracer("test").start_as_current_span("work"):
            pass
        captured.flush()
        code, body = captured.telemetry.health("/health")
    assert code == 200
    assert body["status"] == "ok"
    assert body["service"] == {"name": "station-7", "version": "3.1.4"}
    assert body["pywats_otel_version"] == __version__
    started = datetime.fromisoformat(body["start_time"])
    assert started.tzinfo is not None
    assert started.utcoffset() == timezone.utc.utcoffset(None)
    assert 0 <= body["uptime_s"] < 60
    assert set(body["checks"]) == {
        "wats-server",
        f"disk:{tmp_path}",
        "export:traces:memory",
        "export:metrics:memory",
        "export:logs:memory",
    }
    server = body["checks"]["wats-server"]
    assert server["status"] == "ok"
    assert server["critical"] is False
    assert server["message"] == "answered in 12 ms"
    assert 0 <= server["duration_s"] < 2
    assert datetime.fromisoformat(server["last_change"]).tzinfo is not None
    disk = body["checks"][f"disk:{tmp_path}"]
    assert disk["status"] == "ok"
    assert disk["critical"] is True
    assert disk["message"].startswith("40.0 % used, 60.0 GiB free of 100.0 GiB on ")
    assert "warn at 90 %, fail at 95 %" in disk["message"]
    traces_check = body["checks"]["export:traces:memory"]
    assert traces_check["status"] == "ok"
    assert traces_check["message"].startswith("last success ")
    assert traces_check["message"].endswith(", 1 exported")
    [traces] = body["exporters"]["traces"]
    assert (traces["name"], traces["exported"], traces["failed"]) == ("memory", 1, 0)


def test_live_answers_without_running_checks() -> None:
    """/health/live answers ok even when every check hangs: the process is alive."""
    release = threading.Event()
    health.register_check("stuck", lambda: release.wait(5), timeout_s=1.0)
    with capture_telemetry() as captured:
        started = time.monotonic()
        assert captured.telemetry.health("/health/live") == (200, {"status": "ok"})
        assert time.monotonic() - started < 0.5
    release.set()


def test_failing_critical_check_turns_ready_503_and_back() -> None:
    """A critical check that fails makes ready 503 with the reason; fixed, ready is 200 again."""
    queue_ok = [True]

    def queue_folder() -> health.CheckResult:
        return health.ok("writable") if queue_ok[0] else health.fail("/var/queue is read-only")

    health.register_check("queue-folder", queue_folder, critical=True)
    with capture_telemetry(health_cache_s=0, instrumentations="none") as captured:
        assert captured.telemetry.health("/health/ready") == (200, {"status": "ok"})
        queue_ok[0] = False
        code, body = captured.telemetry.health("/health/ready")
        assert code == 503
        assert body == {
            "status": "unhealthy",
            "reason": "queue-folder: /var/queue is read-only",
            "failing": ["queue-folder"],
        }
        code, full = captured.telemetry.health("/health")
        assert (code, full["status"]) == (503, "unhealthy")
        assert full["checks"]["queue-folder"]["status"] == "fail"
        queue_ok[0] = True
        assert captured.telemetry.health("/health/ready") == (200, {"status": "ok"})


def test_non_critical_failure_degrades_but_stays_ready() -> None:
    """A non-critical failure or a warning is degraded: ready stays 200."""
    health.register_check("wats-server", lambda: False, critical=False)
    health.register_check("memory", lambda: health.warn("85 % used"), critical=True)
    report = health.check_health(max_age_s=0)
    assert report.status == "degraded"
    assert report.ready is True
    statuses = {check.name: (check.status, check.message) for check in report.checks}
    assert statuses == {
        "wats-server": ("fail", "the check returned False"),
        "memory": ("warn", "85 % used"),
    }


def test_hanging_check_is_cut_at_its_timeout_and_never_started_twice() -> None:
    """A sync check that hangs is reported as timeout within its timeout, and not restarted
    while it still runs; once it has ended it runs again."""
    release = threading.Event()
    calls = [0]

    def hangs() -> bool:
        calls[0] += 1
        return release.wait(30)

    health.register_check("hangs", hangs, timeout_s=0.3)
    health.register_check("fine", lambda: True)
    started = time.monotonic()
    first = health.check_health(max_age_s=0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    by_name = {check.name: check for check in first.checks}
    assert by_name["hangs"].status == "timeout"
    assert by_name["hangs"].message == "did not finish within its timeout of 0.3 s"
    assert by_name["hangs"].duration_s == 0.3
    assert by_name["fine"].status == "ok"
    assert first.status == "unhealthy"

    second = health.check_health(max_age_s=0)
    hangs_again = {check.name: check for check in second.checks}["hangs"]
    assert hangs_again.status == "timeout"
    assert hangs_again.message.startswith("still running after ")
    assert calls[0] == 1

    release.set()
    deadline = time.monotonic() + 5
    while any(t.name == "pywats-otel-health-hangs" for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    third = {check.name: check for check in health.check_health(max_age_s=0).checks}
    assert third["hangs"].status == "ok"
    assert calls[0] == 2


def test_hanging_async_check_is_cancelled_at_its_timeout() -> None:
    """An async check runs on pywats_otel's loop; past its timeout it is cancelled."""
    cancelled = threading.Event()
    loops: list[int] = []

    async def slow() -> str:
        loops.append(id(asyncio.get_running_loop()))
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def quick() -> health.CheckResult:
        await asyncio.sleep(0.01)
        loops.append(id(asyncio.get_running_loop()))
        return health.ok("done")

    health.register_check("slow", slow, timeout_s=0.3)
    health.register_check("quick", quick, timeout_s=2.0)
    started = time.monotonic()
    report = health.check_health(max_age_s=0)
    assert time.monotonic() - started < 2.0
    by_name = {check.name: check for check in report.checks}
    assert by_name["slow"].status == "timeout"
    assert (by_name["quick"].status, by_name["quick"].message) == ("ok", "done")
    assert cancelled.wait(2)
    assert len(set(loops)) == 1  # both ran on the same private loop


def test_raising_check_leaves_the_others_correct() -> None:
    """One check raising is that check's failure; the others keep their own results."""

    def broken() -> None:
        raise RuntimeError("database locked")

    async def async_broken() -> None:
        raise ValueError

    health.register_check("broken", broken, critical=False)
    health.register_check("async-broken", async_broken, critical=False)
    health.register_check("queue", lambda: health.ok("3 pending"))
    health.register_check("server", lambda: (True, "HTTP 200"))
    report = health.check_health(max_age_s=0)
    statuses = {check.name: (check.status, check.message) for check in report.checks}
    assert statuses == {
        "broken": ("fail", "RuntimeError: database locked"),
        "async-broken": ("fail", "ValueError"),
        "queue": ("ok", "3 pending"),
        "server": ("ok", "HTTP 200"),
    }
    assert report.status == "degraded"


@pytest.mark.parametrize(
    ("returned", "status", "message"),
    [
        (None, "ok", ""),
        (True, "ok", ""),
        (False, "fail", "the check returned False"),
        ("42 reports pending", "ok", "42 reports pending"),
        ((False, "no route to host"), "fail", "no route to host"),
        (health.warn("disk 91 %"), "warn", "disk 91 %"),
        (health.fail("gone"), "fail", "gone"),
    ],
)
def test_return_values_map_to_statuses(returned: object, status: str, message: str) -> None:
    """None/True are ok, False fails, a string is an ok message, CheckResult speaks for itself."""
    health.register_check("c", lambda: returned)
    [check] = health.check_health(max_age_s=0).checks
    assert (check.status, check.message) == (status, message)


def test_a_burst_of_requests_runs_each_check_once() -> None:
    """Twenty concurrent /health requests within the cache time run the check once."""
    calls = [0]

    def counted() -> None:
        calls[0] += 1
        time.sleep(0.1)

    health.register_check("counted", counted)
    with capture_telemetry(health_cache_s=5, instrumentations="none") as captured:
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda: answers.append(captured.telemetry.health("/health")[0]))
            for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert answers == [200] * 20
    assert calls[0] == 1


def test_last_change_moves_only_when_the_status_changes() -> None:
    """last_change keeps the time of the last status change across runs with the same status."""
    state = ["ok"]
    health.register_check("flip", lambda: health.CheckResult(state[0], ""))  # type: ignore[arg-type]
    first = health.check_health(max_age_s=0).checks[0]
    time.sleep(0.02)
    second = health.check_health(max_age_s=0).checks[0]
    state[0] = "warn"
    time.sleep(0.02)
    third = health.check_health(max_age_s=0).checks[0]
    assert second.last_change == first.last_change
    assert second.checked_at > first.checked_at
    assert third.last_change == third.checked_at > second.last_change


def test_checks_registered_before_init_and_without_telemetry_work() -> None:
    """register_check() before init_telemetry() is kept; check_health() works without it."""
    health.register_check("early", lambda: "registered before start-up")
    assert [c.message for c in health.check_health().checks] == ["registered before start-up"]
    with capture_telemetry(instrumentations="none") as captured:
        code, body = captured.telemetry.health("/health")
    assert code == 200
    assert body["checks"]["early"]["message"] == "registered before start-up"
    # The built-in checks leave with the telemetry that added them; the user's check stays.
    assert health.default_registry().names() == ["early"]
    assert health.unregister_check("early") is True
    assert health.unregister_check("early") is False


def test_register_check_refuses_bad_arguments() -> None:
    """A missing name, a non-callable or a non-positive timeout are refused at once."""
    with pytest.raises(ValueError, match="non-empty name"):
        health.register_check(" ", lambda: True)
    with pytest.raises(TypeError, match="not callable"):
        health.register_check("x", "not a function")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        health.register_check("x", lambda: True, timeout_s=0)


def test_disk_check_warns_then_fails_at_its_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the warn threshold ok, from it warn (degraded), from the fail threshold unhealthy."""
    with capture_telemetry(
        disk_paths=str(tmp_path),
        disk_warn_percent=80,
        disk_fail_percent=90,
        health_cache_s=0,
        instrumentations="none",
    ) as captured:
        results = {}
        for percent in (79.9, 80.0, 95.5):
            _quiet_disk(monkeypatch, percent)
            code, body = captured.telemetry.health("/health")
            results[percent] = (code, body["status"], body["checks"][f"disk:{tmp_path}"])
    assert [(code, status, c["status"]) for code, status, c in results.values()] == [
        (200, "ok", "ok"),
        (200, "degraded", "warn"),
        (503, "unhealthy", "fail"),
    ]
    assert results[95.5][2]["message"].startswith("95.5 % used, 4.5 GiB free of 100.0 GiB")


def test_disk_check_of_a_missing_folder_measures_its_parent(tmp_path: Path) -> None:
    """A queue folder not created yet is measured on the filesystem that will hold it."""
    missing = tmp_path / "queue" / "pending"
    check = _builtin_checks.disk_check(missing, 90, 95)
    result = check()
    assert f"{missing} does not exist; measured {tmp_path}" in result.message


def test_exporter_check_fails_while_exports_fail_and_recovers() -> None:
    """The exporter's check fails with the count and last error, and is ok after a success."""
    from pywats_otel._pipeline.export import ExportStats

    stats = ExportStats("traces", "otlp", "otlp grpc http://collector:4317")
    assert _builtin_checks.exporter_check(stats) == health.ok("no export yet")
    stats.record_success(5)
    stats.record_failure(2, "StatusCode.UNAVAILABLE")
    stats.record_failure(3, "StatusCode.UNAVAILABLE")
    failing = _builtin_checks.exporter_check(stats)
    assert failing.status == "fail"
    assert failing.message.startswith("2 failed exports since the last success (")
    assert failing.message.endswith("s ago); last error: StatusCode.UNAVAILABLE")
    stats.record_success(4)
    recovered = _builtin_checks.exporter_check(stats)
    assert recovered.status == "ok"
    assert recovered.message.endswith(", 9 exported")


def test_check_messages_never_carry_the_endpoint_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check whose error quotes the endpoint password shows *** instead."""

    def leaky() -> None:
        raise PermissionError("login as admin:hunter2-secret refused")

    health.register_check("leaky", leaky, critical=False)
    with capture_telemetry(
        endpoint_username="admin", endpoint_password="hunter2-secret", instrumentations="none"
    ) as captured:
        code, body = captured.telemetry.health("/health")
        status = captured.telemetry.status()
    assert code == 200
    assert body["checks"]["leaky"]["message"] == "PermissionError: login as admin:*** refused"
    assert "hunter2-secret" not in repr(body)
    assert "hunter2-secret" not in repr(status)
    assert status["health"]["checks"]["leaky"]["status"] == "fail"


def test_checks_and_durations_are_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check's status is a 0/1 gauge per status, labelled critical or not, and each run a
    duration observation."""
    health.register_check("server", lambda: health.warn("slow"), critical=False)
    health.register_check("queue", lambda: None, critical=True)
    with capture_telemetry(instrumentations="none", health_cache_s=60) as captured:
        captured.telemetry.health("/health")
        name = {semconv.HEALTH_CHECK_NAME: "server"}
        states = {
            status: captured.metric_value(
                semconv.HEALTH_CHECK_STATUS, {**name, semconv.HEALTH_STATUS: status}
            )
            for status in ("ok", "warn", "fail", "timeout")
        }
        count, total = captured.metric_value(
            semconv.HEALTH_CHECK_DURATION, {**name, semconv.HEALTH_STATUS: "warn"}
        )
        [(_, point)] = captured.metric_points(semconv.HEALTH_CHECK_DURATION)[:1]
        critical = {
            attrs[semconv.HEALTH_CHECK_NAME]: attrs[semconv.HEALTH_CHECK_CRITICAL]
            for attrs, _ in captured.metric_points(semconv.HEALTH_CHECK_STATUS)
            if attrs[semconv.HEALTH_CHECK_NAME] in ("server", "queue")
        }
    assert states == {"ok": 0, "warn": 1, "fail": 0, "timeout": 0}
    assert critical == {"server": "false", "queue": "true"}
    assert count == 1
    assert 0 <= total < 1
    assert tuple(point.explicit_bounds) == semconv.HEALTH_CHECK_BUCKETS


def test_metric_collection_never_waits_for_a_check() -> None:
    """A collection reports the last results and refreshes them in the background."""
    release = threading.Event()
    health.register_check("slow", lambda: release.wait(5), timeout_s=3.0)
    with capture_telemetry(instrumentations="none", health_cache_s=0) as captured:
        started = time.monotonic()
        first = captured.metric_points(semconv.HEALTH_CHECK_STATUS)
        elapsed = time.monotonic() - started
        release.set()
        deadline = time.monotonic() + 5
        while health.last_report() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        later: Any = captured.metric_value(
            semconv.HEALTH_CHECK_STATUS,
            {semconv.HEALTH_CHECK_NAME: "slow", semconv.HEALTH_STATUS: "ok"},
        )
    assert first == []
    assert elapsed < 1.0
    assert later == 1


def test_health_answers_when_telemetry_is_disabled() -> None:
    """With telemetry disabled the handle still reports the user's checks, no exporters."""
    from pywats_otel import init_telemetry

    health.register_check("queue", lambda: "7 pending")
    telemetry = init_telemetry(enabled=False)
    code, body = telemetry.health("/health")
    assert code == 200
    assert body["checks"]["queue"]["message"] == "7 pending"
    assert body["exporters"] == {}
    assert telemetry.health("/health/ready") == (200, {"status": "ok"})
