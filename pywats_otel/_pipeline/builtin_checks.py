"""The health checks init_telemetry() adds: one per exporter, per disk path, and the URL.

``install()`` registers them in the process-wide registry of ``pywats_otel.health`` and returns
the undo that the Telemetry handle's shutdown calls.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pywats_otel._base.errors import TelemetryConfigError
from pywats_otel._base.redact import redact_url
from pywats_otel._base.text import plural
from pywats_otel._config import exporters as _exporters
from pywats_otel.health import CheckResult, default_registry, fail, ok, warn
from pywats_otel.instrumentation.system import measure_disk

if TYPE_CHECKING:
    from pywats_otel._pipeline.export import ExportStats
    from pywats_otel._pipeline.telemetry import Telemetry

__all__ = ["disk_check", "exporter_check", "install", "url_check"]


def _ago(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "never"
    return f"{max(now - timestamp, 0.0):.0f} s ago"


def _served_by_endpoint(stats: ExportStats) -> bool:
    """A pull exporter (Prometheus): the endpoint's scrapes are its exports."""
    if stats.signal != "metrics":
        return False
    try:
        return _exporters.get(stats.exporter, "metrics").uses_endpoint
    except TelemetryConfigError:  # a plug-in that went away since start-up
        return False


def exporter_check(stats: ExportStats, telemetry: Telemetry | None = None) -> CheckResult:
    """Fail when an exporter's last export failed; for Prometheus, when /metrics is not served."""
    snapshot = stats.snapshot()
    now = time.time()
    last_success = stats.totals()[4]
    endpoint = telemetry.endpoint if telemetry is not None else None
    if endpoint is not None and _served_by_endpoint(stats):
        if not endpoint.serving:
            return fail(f"/metrics is not served: {endpoint.error or 'stopped'}")
        if snapshot["consecutive_failures"] == 0:
            if endpoint.last_scrape is None:
                return ok("serving /metrics; no scrape yet")
            return ok(f"{endpoint.scrapes} scrapes, the last {_ago(endpoint.last_scrape, now)}")
    failures = snapshot["consecutive_failures"]
    if failures:
        return fail(
            f"{plural(failures, 'failed export')} since the last success "
            f"({_ago(last_success, now)}); "
            f"last error: {snapshot['last_error'] or 'unknown'}"
        )
    dropped = f", {snapshot['dropped']} dropped" if snapshot["dropped"] else ""
    if last_success is None:
        return ok(f"no export yet{dropped}")
    return ok(f"last success {_ago(last_success, now)}, {snapshot['exported']} exported{dropped}")


def _gib(value: int) -> str:
    return f"{value / 2**30:.1f} GiB"


def disk_check(path: Path, warn_percent: float, fail_percent: float) -> Callable[[], CheckResult]:
    """A check of the free space of the filesystem that holds ``path``."""

    def check() -> CheckResult:
        usage = measure_disk(path)
        where = (
            "" if usage.measured == path else f" ({path} does not exist; measured {usage.measured})"
        )
        message = (
            f"{usage.percent:.1f} % used, {_gib(usage.free_bytes)} free of "
            f"{_gib(usage.total_bytes)} on {usage.mountpoint}{where}; warn at {warn_percent:g} %, "
            f"fail at {fail_percent:g} %"
        )
        if usage.percent >= fail_percent:
            return fail(message)
        if usage.percent >= warn_percent:
            return warn(message)
        return ok(message)

    return check


def url_check(url: str, timeout_s: float) -> Callable[[], CheckResult]:
    """A check that ``url`` answers: any status below 500 counts as reachable."""
    shown = redact_url(url)

    # The setting's validator admits http:// and https:// URLs only, never file: or custom ones.
    request = urllib.request.Request(  # noqa: S310
        url, method="GET", headers={"User-Agent": "pywats-otel"}
    )

    def check() -> CheckResult:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = int(error.code)
            error.close()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return fail(f"{shown} is not reachable: {reason}")
        elapsed = time.perf_counter() - started
        if status >= 500:
            return fail(f"{shown} answered HTTP {status} in {elapsed:.2f} s")
        return ok(f"{shown} answered HTTP {status} in {elapsed:.2f} s")

    return check


def install(telemetry: Telemetry) -> Callable[[], None]:
    """Register the built-in checks of a started telemetry; the undo removes them again."""
    settings = telemetry.settings
    registry = default_registry()
    names: list[str] = []
    for stats in telemetry.export_stats():
        name = f"export:{stats.signal}:{stats.exporter}"
        registry.register(
            name,
            lambda stats=stats: exporter_check(stats, telemetry),  # type: ignore[misc]
            critical=False,
            inline=True,
            log_changes=False,
        )
        names.append(name)
    for path in settings.disk_paths:
        name = f"disk:{path}"
        registry.register(
            name,
            disk_check(path, settings.disk_warn_percent, settings.disk_fail_percent),
            critical=True,
            timeout_s=2.0,
        )
        names.append(name)
    if settings.health_check_url:
        name = f"url:{redact_url(settings.health_check_url)}"
        registry.register(
            name,
            url_check(settings.health_check_url, settings.health_check_timeout_s),
            critical=False,
            # urllib's timeout bounds connect and each read; the margin lets it report first.
            timeout_s=settings.health_check_timeout_s + 1.0,
        )
        names.append(name)
    previous_cache = registry.cache_s
    registry.cache_s = settings.health_cache_s

    def undo() -> None:
        for name in names:
            registry.unregister(name)
        registry.cache_s = previous_cache

    return undo
