"""The Telemetry handle: what init_telemetry() started, its status, flush and shutdown.

Flush and shutdown run the providers' own calls in helper threads and wait at most the given
timeout in total, because the SDK's calls can block on a collector that does not answer.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pywats_otel._base.timefmt import iso
from pywats_otel._version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from pywats_otel._config.settings import TelemetrySettings
    from pywats_otel._pipeline.endpoint import TelemetryEndpoint
    from pywats_otel._pipeline.export import (
        CountingBatchLogRecordProcessor,
        CountingBatchSpanProcessor,
        ExportStats,
    )
    from pywats_otel._pipeline.recent_traces import RecentTraces

__all__ = ["Parts", "Telemetry"]

_logger = logging.getLogger("pywats_otel")


@dataclass
class Parts:
    """What the bootstrap built, in the order it built it."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    endpoint: TelemetryEndpoint | None = None
    #: The span processor of the endpoint's /traces page (None when it is off).
    recent_traces: RecentTraces | None = None
    log_handler: logging.Handler | None = None
    stats: dict[str, list[ExportStats]] = field(
        default_factory=lambda: {"traces": [], "metrics": [], "logs": []}
    )
    batch_processors: list[CountingBatchSpanProcessor | CountingBatchLogRecordProcessor] = field(
        default_factory=list
    )
    #: (name, undo) of each instrumentation turned on, undone in reverse order.
    instrumentations: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    #: (name, undo) of pywats_otel's own observers (pipeline metrics, built-in health checks),
    #: undone after the providers' shutdown, so that the last export still carries them.
    cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    #: One line per signal: where it goes, for the start-up log line and status().
    destinations: dict[str, list[str]] = field(
        default_factory=lambda: {"traces": [], "metrics": [], "logs": []}
    )
    #: The signals whose provider pywats_otel built (and shuts down); the others were set
    #: before init_telemetry() and pywats_otel only added to them.
    owned: set[str] = field(default_factory=lambda: {"traces", "metrics", "logs"})
    #: Per signal, the processors or readers of a provider set before init_telemetry().
    foreign: dict[str, list[str]] = field(default_factory=dict)
    #: Readers pywats_otel added to a MeterProvider set before it (removed at shutdown).
    attached_readers: list[Any] = field(default_factory=list)
    #: Instrumentations that were on already when init_telemetry() came (by whom, if known).
    instrumented_before: list[str] = field(default_factory=list)


class Telemetry:
    """The handle ``init_telemetry()`` returns.

    It owns the providers, the exporters and the HTTP endpoint. When telemetry is disabled it
    holds nothing and every method returns at once.
    """

    def __init__(
        self,
        settings: TelemetrySettings,
        resource: Resource | None = None,
        parts: Parts | None = None,
    ) -> None:
        self.settings = settings
        self.resource = resource
        self._parts = parts or Parts()
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._shut_down = False
        self._shutdown_result: bool | None = None
        #: When shutdown ended (Unix time), and what made it not clean.
        self.shutdown_at: float | None = None
        self.shutdown_problems: list[str] = []
        #: Who called init_telemetry() first: "opentelemetry-instrument" when its
        #: configurator did, else None (the program).
        self.started_by: str | None = None

    # -- read-only views

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    @property
    def tracer_provider(self) -> TracerProvider | None:
        return self._parts.tracer_provider

    @property
    def meter_provider(self) -> MeterProvider | None:
        return self._parts.meter_provider

    @property
    def logger_provider(self) -> LoggerProvider | None:
        return self._parts.logger_provider

    @property
    def endpoint(self) -> TelemetryEndpoint | None:
        return self._parts.endpoint

    @property
    def recent_traces(self) -> RecentTraces | None:
        """The recent traces the endpoint's /traces page shows, or None when it is off."""
        return self._parts.recent_traces

    @property
    def traces_url(self) -> str | None:
        """The URL of /traces when the endpoint serves it, else None."""
        endpoint = self._parts.endpoint
        if endpoint is None or not endpoint.serving or self._parts.recent_traces is None:
            return None
        return f"{endpoint.url}/traces"

    @property
    def metrics_url(self) -> str | None:
        """The URL of /metrics when the endpoint serves, else None."""
        endpoint = self._parts.endpoint
        return f"{endpoint.url}/metrics" if endpoint is not None and endpoint.serving else None

    @property
    def instrumentations(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._parts.instrumentations)

    def export_stats(self) -> list[ExportStats]:
        """The counters of every exporter, traces first, then metrics and logs."""
        return [stats for signal in self._parts.stats.values() for stats in signal]

    def status(self) -> dict[str, Any]:
        """Where each signal goes and how its export is doing; no secrets.

        Keys: ``enabled`` (the setting), ``active`` (enabled and not shut down), ``shut_down``,
        ``shutdown`` (once shut down: when, whether cleanly, what went wrong), ``service``,
        ``started_at``, ``traces``, ``metrics``, ``logs`` (each a list of exporters with
        ``name``, ``destination``, ``exported``, ``failed``, ``dropped``, ``pending`` (queued
        or being exported; None for Prometheus), ``left_behind`` (pending when shutdown
        ended, counted in ``dropped``), ``dropped_after_shutdown``, ``failed_exports``,
        ``consecutive_failures``, ``last_success``, ``last_error``, ``last_error_time``);
        for spans and log records, exported + failed + dropped + pending is every item
        produced; a provider set before pywats_otel adds ``{"name": "set before
        pywats_otel", "destination", "counted": False}``), ``endpoint`` (URLs of /metrics and
        /traces, ``tls`` and ``basic_auth`` flags, never credentials), ``instrumentations``,
        ``instrumented_before`` (turned on by someone else first), ``started_by``
        (``opentelemetry-instrument`` or ``the program``), ``cardinality`` (the limit, and per
        metric and exporter the measurements counted in the overflow series and the attribute
        values replaced because they were not UTF-8) and ``health`` (the last health report,
        or None; status() never runs the checks).
        """
        settings = self.settings
        result: dict[str, Any] = {
            "enabled": settings.enabled,
            # Whether telemetry runs: enabled and not shut down.
            "active": settings.enabled and not self._shut_down,
            "shut_down": self._shut_down,
            "service": {
                "name": settings.service_name,
                "version": settings.service_version,
                "environment": settings.environment,
            },
            "pywats_otel_version": __version__,
            "started_at": iso(self.started_at, "seconds"),
        }
        if not settings.enabled:
            return result
        if self._shut_down:
            result["shutdown"] = {
                "at": iso(self.shutdown_at, "seconds") if self.shutdown_at else None,
                "clean": self._shutdown_result,
                "problems": list(self.shutdown_problems),
                "note": "telemetry is off for the rest of this process: OpenTelemetry's "
                "providers are set once per process, so init_telemetry() returns this handle; "
                "spans and log records produced since are dropped (dropped_after_shutdown)",
            }
        result.update(self._exporters())
        endpoint = self._parts.endpoint
        if endpoint is not None:
            result["endpoint"] = {
                "serving": endpoint.serving,
                "url": endpoint.url,
                "metrics_url": f"{endpoint.url}/metrics",
                "traces_url": f"{endpoint.url}/traces"
                if self._parts.recent_traces is not None
                else None,
                "error": endpoint.error,
                "scrapes": endpoint.scrapes,
                "last_scrape": iso(endpoint.last_scrape, "seconds")
                if endpoint.last_scrape
                else None,
                "tls": endpoint.tls,
                "basic_auth": endpoint.basic_auth,
            }
        else:
            result["endpoint"] = None
        result["instrumentations"] = list(self.instrumentations)
        from pywats_otel._pipeline import cardinality

        result["cardinality"] = {
            "limit": settings.metric_cardinality_limit,
            **cardinality.snapshot(),
        }
        result["instrumented_before"] = list(self._parts.instrumented_before)
        result["started_by"] = self.started_by or "the program"
        from pywats_otel import health  # imported on use: `import pywats_otel` stays light

        # The last report only: status() never runs a check (one could take seconds).
        report = health.last_report()
        result["health"] = None if report is None else report.as_dict()
        return result

    def _exporters(self) -> dict[str, list[dict[str, Any]]]:
        """Per signal, each exporter's counters (the Prometheus one with the endpoint's state),
        then what a provider set before init_telemetry() exports, which pywats_otel does not
        count (``counted`` false, counters None)."""
        result: dict[str, list[dict[str, Any]]] = {}
        endpoint = self._parts.endpoint
        for signal, stats in self._parts.stats.items():
            result[signal] = [entry.snapshot() for entry in stats]
            for entry in result[signal]:
                if endpoint is not None and entry["name"] == "prometheus":
                    entry["serving"] = endpoint.serving
                    if endpoint.error:
                        entry["last_error"] = endpoint.error
            result[signal] += [
                {
                    "name": "set before pywats_otel",
                    "destination": destination,
                    "counted": False,
                    **dict.fromkeys(
                        ("exported", "failed", "dropped", "failed_exports", "last_success"), None
                    ),
                }
                for destination in self._parts.foreign.get(signal, [])
            ]
        return result

    def health(self, path: str) -> tuple[int, dict[str, Any]]:
        """The endpoint's answer to a health path, (status, JSON): see ``health.http_response``."""
        from pywats_otel import health

        settings = self.settings
        return health.http_response(
            path,
            service=health.ServiceInfo(
                settings.service_name, settings.service_version, self.started_at
            ),
            exporters=self._exporters if settings.enabled else dict,
            max_age_s=settings.health_cache_s,
            links=self._links(),
        )

    def _links(self) -> dict[str, str]:
        """The endpoint's paths, for /health to point at."""
        links = {"metrics": "/metrics"}
        if self._parts.recent_traces is not None:
            links["traces"] = "/traces"
        links.update({"live": "/health/live", "ready": "/health/ready"})
        return links

    # -- flush and shutdown

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export what is buffered; True when every provider finished within ``timeout_s``."""
        if not self.settings.enabled or self._shut_down:
            return True
        timeout_ms = max(timeout_s, 0.0) * 1000
        tasks: list[tuple[str, Callable[[], object]]] = []
        parts = self._parts
        if parts.tracer_provider is not None:
            tasks.append(("traces", lambda: parts.tracer_provider.force_flush(int(timeout_ms))))  # type: ignore[union-attr]
        if parts.logger_provider is not None:
            tasks.append(("logs", lambda: parts.logger_provider.force_flush(int(timeout_ms))))  # type: ignore[union-attr]
        if parts.meter_provider is not None:
            tasks.append(("metrics", lambda: parts.meter_provider.force_flush(timeout_ms)))  # type: ignore[union-attr]
        outcome = _run_bounded(tasks, timeout_s, "flush")
        return all(outcome.values())

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Flush and stop everything; returns within ``timeout_s`` whether the collector answers.

        True when everything produced was exported or failed on its own (a collector that
        refused a batch), False when data was left behind (still queued or being exported at
        the deadline, now counted as ``left_behind`` and ``dropped``), a provider did not
        finish in time, or an exporter's own shutdown raised. One warning says which signal
        left how much. Later calls return the same result at once, without logging again.
        """
        with self._lock:
            if self._shutdown_result is not None:
                return self._shutdown_result
            if self._shut_down or not self.settings.enabled:
                self._shut_down = True
                self._shutdown_result = True
                return True
            self._shut_down = True
        try:
            result = self._shutdown(timeout_s)
        except Exception:  # a bug of ours: reported, and the answer is "not clean"
            _logger.warning("pywats_otel: shutdown failed", exc_info=True)
            result = False
        self.shutdown_at = time.time()
        self._shutdown_result = result
        return result

    def _shutdown(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        parts = self._parts

        _undo_all(parts.instrumentations)
        if parts.log_handler is not None:
            logging.getLogger().removeHandler(parts.log_handler)

        remaining_ms = max(deadline - time.monotonic(), 0.0) * 1000
        for processor in parts.batch_processors:
            processor.shutdown_timeout_ms = remaining_ms
        tasks: list[tuple[str, Callable[[], object]]] = []
        owned = parts.owned
        # Providers pywats_otel made are shut down; someone else's are only flushed.
        for signal, signal_provider in (
            ("traces", parts.tracer_provider),
            ("logs", parts.logger_provider),
        ):
            if signal_provider is not None:
                tasks.append(
                    (
                        signal,
                        signal_provider.shutdown
                        if signal in owned
                        else functools.partial(signal_provider.force_flush, int(remaining_ms)),
                    )
                )
        if parts.meter_provider is not None:
            provider = parts.meter_provider
            if "metrics" in owned:
                tasks.append(("metrics", lambda: provider.shutdown(timeout_millis=remaining_ms)))
            else:
                # Not ours to shut down: take out only what pywats_otel added.
                def detach() -> None:
                    for reader in parts.attached_readers:
                        provider.remove_metric_reader(reader)

                tasks.append(("metrics", detach))
        outcome = _run_bounded(tasks, max(deadline - time.monotonic(), 0.0), "shutdown")

        if parts.endpoint is not None:
            parts.endpoint.stop(timeout_s=max(min(deadline - time.monotonic(), 1.0), 0.05))
        # The SDK's batch processors return from shutdown when their wait timed out, as when
        # they are done: what is still queued or being exported is what was left behind.
        left = {stats: stats.abandon() for stats in self.export_stats()}
        _undo_all(parts.cleanups)
        late = sorted(name for name, done in outcome.items() if not done)
        problems = [
            f"{stats.signal} left {count} {_ITEMS[stats.signal]} behind ({stats.exporter})"
            for stats, count in left.items()
            if count
        ]
        problems += [
            f"the {stats.signal} exporter {stats.exporter} failed to shut down: "
            f"{stats.shutdown_error}"
            for stats in self.export_stats()
            if stats.shutdown_error
        ]
        if late:
            problems.append(f"the shutdown of {', '.join(late)} did not finish")
        if problems:
            _logger.warning(
                "pywats_otel: shutdown within %.1f s was not clean: %s; what was left behind "
                "is lost (status() counts it as left_behind and dropped)",
                timeout_s,
                "; ".join(problems),
            )
        self.shutdown_problems = problems
        return not problems


_ITEMS = {"traces": "spans", "metrics": "metric points", "logs": "log records"}


def _undo_all(undos: list[tuple[str, Callable[[], None]]]) -> None:
    """Run each undo, newest first; one that fails is logged and the others still run."""
    for name, undo in reversed(undos):
        try:
            undo()
        except Exception:
            _logger.warning("pywats_otel: undoing %s failed", name, exc_info=True)


def _run_bounded(
    tasks: list[tuple[str, Callable[[], object]]], timeout_s: float, what: str
) -> dict[str, bool]:
    """Run the tasks side by side in daemon threads and wait at most ``timeout_s`` in total.

    A task that is still running at the deadline counts as failed and is left to finish (or
    die with the process). Where no thread can be started (interpreter shutdown on Python 3.12
    and newer), tasks run one after the other in the caller's thread.
    """
    results: dict[str, bool] = {name: False for name, _ in tasks}

    def run(name: str, task: Callable[[], object]) -> None:
        try:
            results[name] = task() is not False
        except Exception:
            _logger.warning("pywats_otel: %s of %s failed", what, name, exc_info=True)

    threads: list[threading.Thread] = []
    for name, task in tasks:
        thread = threading.Thread(
            target=run, args=(name, task), name=f"pywats-otel-{what}-{name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            run(name, task)
            continue
        threads.append(thread)
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return results
