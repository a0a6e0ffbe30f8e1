"""Health checks: register named checks, run them with timeouts, cache and report the results.

Works with or without ``init_telemetry()``: checks registered before start-up are kept, and the
endpoint's ``/health``, ``/health/live`` and ``/health/ready`` answer from this registry.

A check is a function (sync or ``async``) that takes no argument and returns ``None`` or
``True`` (ok), ``False`` (fail), a ``str`` (ok, with that message), ``(ok, message)``, or one
of :func:`ok`, :func:`warn`, :func:`fail`; raising counts as fail with the exception's text::

    from pywats_otel import health

    def queue_folder_writable() -> health.CheckResult:
        if not os.access(QUEUE, os.W_OK):
            return health.fail(f"{QUEUE} is not writable")
        return health.ok(f"{count_pending()} reports pending")

    health.register_check("queue-folder", queue_folder_writable, critical=True, timeout_s=2.0)

Every check runs in a daemon thread (``async`` checks on an event loop of this module), one
of a few kept waiting for work, so one that hangs is cut at its timeout, reported as
``timeout``, and left to finish on its own in its thread while the others go on; it is not
started again while it still runs, so hung checks cannot pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from pywats_otel import semconv
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.redact import scrub
from pywats_otel._base.timefmt import iso
from pywats_otel._version import __version__

__all__ = [
    "HEALTH_PATHS",
    "CheckResult",
    "CheckStatus",
    "HealthRegistry",
    "HealthReport",
    "ServiceInfo",
    "check_health",
    "default_registry",
    "fail",
    "http_response",
    "last_report",
    "ok",
    "register_check",
    "unregister_check",
    "warn",
]

_logger = logging.getLogger("pywats_otel")

Status = Literal["ok", "warn", "fail", "timeout"]
Overall = Literal["ok", "degraded", "unhealthy"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "timeout")
_MESSAGE_LIMIT = 300
DEFAULT_CACHE_S = 1.0


# -- what a check returns -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What a check found: ``ok``, ``warn`` (degraded) or ``fail``, with a message."""

    status: Literal["ok", "warn", "fail"]
    message: str = ""


def ok(message: str = "") -> CheckResult:
    """The check passed; ``message`` is for people (e.g. "42 reports pending")."""
    return CheckResult("ok", message)


def warn(message: str) -> CheckResult:
    """The check passed with a problem: the station is degraded but ready."""
    return CheckResult("warn", message)


def fail(message: str) -> CheckResult:
    """The check failed: unhealthy (and not ready) when the check is critical."""
    return CheckResult("fail", message)


def _as_result(value: object) -> CheckResult:
    if isinstance(value, CheckResult):
        return value
    if value is None or value is True:
        return CheckResult("ok")
    if value is False:
        return CheckResult("fail", "the check returned False")
    if isinstance(value, str):
        return CheckResult("ok", value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], bool):
        return CheckResult("ok" if value[0] else "fail", str(value[1]))
    return CheckResult("ok" if value else "fail", "")


def _clean(message: str) -> str:
    # scrub() cuts to a sane length and removes registered secrets (OTLP headers, password).
    return scrub(" ".join(message.split()))[:_MESSAGE_LIMIT]


# -- what the report holds ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckStatus:
    """The last result of one check."""

    name: str
    status: Status
    critical: bool
    message: str
    duration_s: float
    #: Wall-clock times (Unix seconds) of this run and of the last change of ``status``.
    checked_at: float
    last_change: float

    @property
    def failing(self) -> bool:
        return self.status in ("fail", "timeout")

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "critical": self.critical,
            "duration_s": round(self.duration_s, 6),
            "message": self.message,
            "last_change": iso(self.last_change),
        }


@dataclass(frozen=True)
class HealthReport:
    """The overall status and each check's result, as ``/health`` shows them."""

    status: Overall
    checks: tuple[CheckStatus, ...]
    checked_at: float

    @property
    def ready(self) -> bool:
        """No critical check fails or times out."""
        return self.status != "unhealthy"

    @property
    def reason(self) -> str:
        """Why the report is not ok: the failing (then warning) checks and their messages."""
        worst = [c for c in self.checks if c.failing and c.critical] or [
            c for c in self.checks if c.status != "ok"
        ]
        return "; ".join(f"{c.name}: {c.message or c.status}" for c in worst)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {check.name: check.as_dict() for check in self.checks},
        }


def _overall(checks: Iterable[CheckStatus]) -> Overall:
    result: Overall = "ok"
    for check in checks:
        if check.failing and check.critical:
            return "unhealthy"
        if check.status != "ok":
            result = "degraded"
    return result


# -- running checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    status: Status
    message: str


@dataclass
class _Run:
    """One run of one check: its result, and whether the work really ended (not just timed
    out), which decides whether the check may be started again."""

    started: float
    future: Future[object] = field(default_factory=Future)
    finished: threading.Event = field(default_factory=threading.Event)
    cancel: Callable[[], object] | None = None
    #: When the work ended (monotonic), for its duration: checks are awaited one after another.
    ended: float | None = None

    def end(self) -> None:
        self.ended = time.monotonic()
        self.finished.set()

    def duration(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started


@dataclass
class _Check:
    name: str
    function: Callable[[], object]
    critical: bool
    timeout_s: float
    is_async: bool
    #: Runs in the caller's thread: for pywats_otel's own in-memory checks only.
    inline: bool = False
    #: Log changes of status (off for the exporter checks: the pipeline logs those failures).
    log_changes: bool = True
    running: _Run | None = None


class _EventLoop:
    """A private event loop in a daemon thread for ``async`` checks, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="pywats-otel-health-loop", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop


class _Workers:
    """Daemon threads that run sync checks and background refreshes, one job at a time each,
    and wait for the next: an idle station's scrapes start no thread. A thread is started only
    when every worker is busy, so a hung check keeps its own worker while the others go on; at
    most ``_MAX_IDLE`` wait idle."""

    _MAX_IDLE = 4
    _IDLE_NAME = "pywats-otel-health"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], None] | None]] = []

    def submit(self, name: str, job: Callable[[], None]) -> None:
        """Run ``job`` on an idle worker, or on a new one; RuntimeError at interpreter exit."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(inbox,), name=self._IDLE_NAME, daemon=True
            ).start()
        inbox.put(lambda: self._named(name, job))

    @staticmethod
    def _named(name: str, job: Callable[[], None]) -> None:
        thread = threading.current_thread()
        thread.name = name
        try:
            job()
        finally:
            thread.name = _Workers._IDLE_NAME

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        while True:
            job = inbox.get()
            if job is None:
                return
            job()  # jobs catch what they raise: a check's failure is its result
            with self._lock:
                if len(self._idle) >= self._MAX_IDLE:
                    return
                self._idle.append(inbox)


_workers = _Workers()


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable


async def _await_check(function: Callable[[], object]) -> object:
    result = function()
    if inspect.isawaitable(result):
        result = await result
    return result


class HealthRegistry:
    """Named checks, their last results and the cached report.

    The module functions use one process-wide instance; tests may build their own.
    """

    def __init__(self, *, cache_s: float = DEFAULT_CACHE_S) -> None:
        self.cache_s = cache_s
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._report: HealthReport | None = None
        self._report_started = -math.inf
        # Bumped by every (un)registration: a report of an older set of checks is not reused,
        # even when a run that started before the change ends after it.
        self._generation = 0
        self._report_generation = -1
        #: name -> (status, wall time of its last change)
        self._changes: dict[str, tuple[Status, float]] = {}
        self._loop = _EventLoop()
        self._refreshing = threading.Event()

    def after_fork(self) -> None:
        """In a forked child: the threads that ran checks stayed in the parent, so no check is
        running here, and the locks and event loop are the child's own."""
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._loop = _EventLoop()
        self._refreshing = threading.Event()
        for check in self._checks.values():
            check.running = None

    # -- registration

    def register(
        self,
        name: str,
        function: Callable[[], object],
        *,
        critical: bool = True,
        timeout_s: float = 2.0,
        inline: bool = False,
        log_changes: bool = True,
    ) -> None:
        """Register (or replace) check ``name``; see :func:`register_check`.

        ``inline`` runs the check in the caller's thread without a timeout: for checks that
        only read memory (pywats_otel's exporter checks). ``log_changes`` logs each change of
        its status (off where another part logs the same failures already).
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a health check needs a non-empty name")
        if not callable(function):
            raise TypeError(f"health check {name!r}: {function!r} is not callable")
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < math.inf):
            raise ValueError(f"health check {name!r}: timeout_s must be a positive number")
        check = _Check(
            name=name.strip(),
            function=function,
            critical=bool(critical),
            timeout_s=float(timeout_s),
            is_async=inspect.iscoroutinefunction(function),
            inline=inline,
            log_changes=log_changes,
        )
        with self._lock:
            self._checks[check.name] = check
            self._changes.pop(check.name, None)
            self._report = None
            self._generation += 1

    def unregister(self, name: str) -> bool:
        """Remove check ``name``; False when there was none."""
        with self._lock:
            removed = self._checks.pop(name, None) is not None
            self._changes.pop(name, None)
            self._report = None
            self._generation += 1
        return removed

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def clear(self) -> None:
        with self._lock:
            self._checks.clear()
            self._changes.clear()
            self._report = None
            self._generation += 1

    # -- reports

    def latest(self) -> HealthReport | None:
        """The last report, without running anything."""
        return self._report

    def report(self, *, max_age_s: float | None = None) -> HealthReport:
        """Run the checks, or return the report of a run started at most ``max_age_s`` ago.

        Concurrent callers share one run: a burst of requests runs each check once.
        """
        max_age = self.cache_s if max_age_s is None else max(max_age_s, 0.0)
        arrived = time.monotonic()
        cached = self._fresh(arrived, max_age)
        if cached is not None:
            return cached
        with self._run_lock:
            # A run that started after this caller arrived is as fresh as it can ask for.
            cached = self._fresh(arrived, max_age)
            if cached is not None:
                return cached
            started = time.monotonic()
            with self._lock:
                generation = self._generation
            report = self._run_all()
            with self._lock:
                self._report, self._report_started = report, started
                self._report_generation = generation
            return report

    def _fresh(self, arrived: float, max_age: float) -> HealthReport | None:
        with self._lock:
            report, started = self._report, self._report_started
            current = self._report_generation == self._generation
        if report is not None and current and (started >= arrived or arrived - started < max_age):
            return report
        return None

    def refresh_soon(self) -> None:
        """Start a run in the background when the cached report is stale; never waits."""
        with self._lock:
            stale = self._report is None or time.monotonic() - self._report_started >= self.cache_s
            if not stale or self._refreshing.is_set() or not self._checks:
                return
            self._refreshing.set()

        def refresh() -> None:
            try:
                self.report()
            except Exception:  # noqa: BLE001 - a background refresh must never raise
                warn_once(("health", "refresh"), "pywats_otel: health checks failed", exc_info=True)
            finally:
                self._refreshing.clear()

        try:
            _workers.submit("pywats-otel-health-refresh", refresh)
        except RuntimeError:  # interpreter shutting down
            self._refreshing.clear()

    def _run_all(self) -> HealthReport:
        with self._lock:
            checks = list(self._checks.values())
        runs: list[tuple[_Check, _Run, bool]] = []
        results: dict[str, tuple[_Result, float]] = {}
        for check in checks:
            if check.inline:
                started = time.perf_counter()
                try:
                    found = _as_result(check.function())
                    result = _Result(found.status, found.message)
                except Exception as exc:  # noqa: BLE001 - a failing check is a result
                    result = _Result("fail", f"{type(exc).__name__}: {exc}")
                results[check.name] = (result, time.perf_counter() - started)
                continue
            run, fresh = self._start(check)
            runs.append((check, run, fresh))
        for check, run, fresh in runs:
            results[check.name] = self._wait(check, run, fresh)
        now = time.time()
        statuses = [
            self._record(check, result.status, _clean(result.message), duration, now)
            for check in checks
            for result, duration in (results[check.name],)
        ]
        return HealthReport(_overall(statuses), tuple(statuses), now)

    def _start(self, check: _Check) -> tuple[_Run, bool]:
        """Start ``check`` unless its previous run is still busy; (run, started now)."""
        previous = check.running
        if previous is not None and not previous.finished.is_set():
            return previous, False
        run = _Run(started=time.monotonic())
        check.running = run
        try:
            if check.is_async:
                self._start_async(check, run)
            else:
                self._start_thread(check, run)
        except RuntimeError as exc:  # no thread at interpreter shutdown
            run.end()
            run.future.set_exception(exc)
        return run, True

    def _start_thread(self, check: _Check, run: _Run) -> None:
        loop_holder = self._loop

        def target() -> None:
            try:
                result = check.function()
                if inspect.isawaitable(result):
                    # A sync callable that returned a coroutine: run that on our loop.
                    result = asyncio.run_coroutine_threadsafe(
                        _await(result), loop_holder.get()
                    ).result()
            except BaseException as exc:  # noqa: BLE001 - reported as the check's failure
                run.ended = time.monotonic()
                run.future.set_exception(exc)
            else:
                run.ended = time.monotonic()
                run.future.set_result(result)
            finally:
                run.finished.set()

        _workers.submit(f"pywats-otel-health-{check.name}", target)

    def _start_async(self, check: _Check, run: _Run) -> None:
        loop = self._loop.get()

        def start() -> None:
            task = loop.create_task(_await_check(check.function))
            run.cancel = task.cancel

            def done(task: asyncio.Task[object]) -> None:
                run.end()
                if task.cancelled():
                    if not run.future.done():
                        run.future.set_exception(FutureTimeout())
                elif task.exception() is not None:
                    run.future.set_exception(task.exception())
                else:
                    run.future.set_result(task.result())

            task.add_done_callback(done)

        loop.call_soon_threadsafe(start)

    def _wait(self, check: _Check, run: _Run, fresh: bool) -> tuple[_Result, float]:
        remaining = run.started + check.timeout_s - time.monotonic()
        try:
            value = run.future.result(timeout=max(remaining, 0.0))
        except (FutureTimeout, TimeoutError):
            cancel = run.cancel
            if cancel is not None:
                # Cancel the task on its own loop; a coroutine that ignores it stays in flight.
                with contextlib.suppress(RuntimeError):
                    self._loop.get().call_soon_threadsafe(cancel)
            if fresh:
                message = f"did not finish within its timeout of {check.timeout_s:g} s"
            else:
                message = (
                    f"still running after {time.monotonic() - run.started:.1f} s "
                    f"(timeout {check.timeout_s:g} s); not started again until it ends"
                )
            return _Result("timeout", message), check.timeout_s
        except BaseException as exc:  # noqa: BLE001 - the check raised: that is its result
            text = str(exc)
            message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            return _Result("fail", message), run.duration()
        duration = run.duration()
        try:
            result = _as_result(value)
        except Exception as exc:  # noqa: BLE001 - a result whose bool() raises
            return _Result("fail", f"unusable result: {type(exc).__name__}"), duration
        return _Result(result.status, result.message), duration

    def _record(
        self, check: _Check, status: Status, message: str, duration: float, now: float
    ) -> CheckStatus:
        with self._lock:
            previous = self._changes.get(check.name)
            changed_at = previous[1] if previous is not None and previous[0] == status else now
            self._changes[check.name] = (status, changed_at)
        changed = previous[0] != status if previous is not None else status != "ok"
        if changed and check.log_changes:
            # Once per change, not per run: a failing check does not repeat itself.
            _logger.log(
                logging.INFO if status == "ok" else logging.WARNING,
                "pywats_otel: health check %s is %s%s%s",
                check.name,
                status,
                f" (was {previous[0]})" if previous is not None else "",
                f": {message}" if message else "",
            )
        _record_duration(check.name, status, duration)
        return CheckStatus(
            name=check.name,
            status=status,
            critical=check.critical,
            message=message,
            duration_s=duration,
            checked_at=now,
            last_change=changed_at,
        )


# -- the process-wide registry and its module functions --------------------------------------

_registry = HealthRegistry()


def default_registry() -> HealthRegistry:
    """The process-wide registry that ``register_check()``, ``/health`` and the
    ``pywats.health.check.*`` metrics use; its instruments exist once this has been called."""
    _instruments.get()
    return _registry


def register_check(
    name: str,
    fn: Callable[[], object] | Callable[[], Awaitable[object]],
    *,
    critical: bool = True,
    timeout_s: float = 2.0,
) -> None:
    """Register (or replace) the health check ``name``.

    ``fn`` takes no argument; it may be ``async``. A ``critical`` check that fails or times out
    makes the station unhealthy and ``/health/ready`` answer 503; a non-critical one makes it
    degraded. Works before ``init_telemetry()`` and when telemetry is disabled.
    """
    _registry.register(name, fn, critical=critical, timeout_s=timeout_s)


def unregister_check(name: str) -> bool:
    """Remove the check ``name``; False when there was none."""
    return _registry.unregister(name)


def check_health(*, max_age_s: float | None = None) -> HealthReport:
    """Run the registered checks (or reuse a report at most ``max_age_s`` old) and report.

    ``max_age_s`` defaults to the ``health_cache_s`` setting (1 s before ``init_telemetry()``).
    """
    return _registry.report(max_age_s=max_age_s)


def last_report() -> HealthReport | None:
    """The most recent report, without running any check; None before the first run."""
    return _registry.latest()


# -- metrics of the checks ------------------------------------------------------------------


def _observe_status(options: CallbackOptions) -> Iterable[Observation]:
    # Reports what the last run found and starts a new run in the background when that is
    # stale: a collection never waits for a check.
    report = _registry.latest()
    _registry.refresh_soon()
    if report is None:
        return []
    return [
        Observation(
            1 if check.status == status else 0,
            {
                semconv.HEALTH_CHECK_NAME: check.name,
                semconv.HEALTH_CHECK_CRITICAL: "true" if check.critical else "false",
                semconv.HEALTH_STATUS: status,
            },
        )
        for check in report.checks
        for status in STATUSES
    ]


@dataclass
class _Instruments:
    duration: Any
    status: Any


def _build(meter: Meter) -> _Instruments:
    return _Instruments(
        duration=create_instrument(meter, semconv.HEALTH_CHECK_DURATION),
        status=create_instrument(meter, semconv.HEALTH_CHECK_STATUS, _observe_status),
    )


_instruments = PerMeterProvider(_build)


def _record_duration(name: str, status: Status, duration: float) -> None:
    try:
        _instruments.get().duration.record(
            duration, {semconv.HEALTH_CHECK_NAME: name, semconv.HEALTH_STATUS: status}
        )
    except Exception:  # noqa: BLE001 - a metric must never break a health check
        warn_once(
            ("health", "duration"), "pywats_otel: recording a health check failed", exc_info=True
        )


# -- the HTTP answers -----------------------------------------------------------------------

#: The paths the endpoint answers from here.
HEALTH_PATHS = ("/health", "/health/live", "/health/ready")


@dataclass(frozen=True)
class ServiceInfo:
    """Who answers /health: the service's name and version, and when it started (Unix time)."""

    name: str
    version: str | None
    started_at: float


def http_response(
    path: str,
    *,
    service: ServiceInfo | None = None,
    exporters: Callable[[], Mapping[str, Any]] | None = None,
    max_age_s: float | None = None,
    links: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The answer to ``/health``, ``/health/live`` or ``/health/ready``: (HTTP status, JSON).

    /health/live answers without running checks. /health/ready is 503 when a critical check
    fails or times out, naming the reason. /health carries everything (the service, each
    check, and ``exporters()``, the pipeline's status per signal); it is 503 too when the
    station is unhealthy, so a plain HTTP monitor sees it. Checks run at most every
    ``max_age_s`` (the cache), whatever the number of callers. ``links`` (name -> path of the
    endpoint) go into /health as ``links``.
    """
    if path == "/health/live":
        return 200, {"status": "ok"}
    report = check_health(max_age_s=max_age_s)
    code = 200 if report.ready else 503
    if path == "/health/ready":
        body: dict[str, Any] = {"status": report.status}
        if not report.ready:
            body["reason"] = report.reason
            body["failing"] = [
                check.name for check in report.checks if check.failing and check.critical
            ]
        return code, body
    started_at = service.started_at if service is not None else time.time()
    return code, {
        "status": report.status,
        "service": {
            "name": service.name if service is not None else None,
            "version": service.version if service is not None else None,
        },
        "pywats_otel_version": __version__,
        "start_time": iso(started_at, "seconds"),
        "uptime_s": round(time.time() - started_at, 3),
        "checks": report.as_dict()["checks"],
        "exporters": dict(exporters()) if exporters is not None else {},
        **({"links": dict(links)} if links is not None else {}),
    }
