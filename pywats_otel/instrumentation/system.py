"""Process and system metrics (CPU, memory, threads, file descriptors, filesystems) via psutil.

Observable instruments read when a metric reader collects: no thread of ours polls. The
``system`` instrumentation turns them on; undoing it silences their callbacks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from pywats_otel import semconv
from pywats_otel._base.otel import PerMeterProvider, create_instrument
from pywats_otel._base.ratelimit import warn_once

if TYPE_CHECKING:
    from pywats_otel._config.settings import TelemetrySettings

__all__ = ["DiskUsage", "SystemMetrics", "measure_disk", "turn_on"]


#: CPU utilization is computed over at least this window; readings closer together (a second
#: reader, a scrape right after an OTLP export) reuse the last value instead of measuring noise.
#: Before the first full window after start-up the CPU utilizations are absent.
MIN_CPU_WINDOW_S = 1.0

# psutil's CPU time fields -> the semconv cpu.mode values. guest and guest_nice are left out:
# Linux counts them in user and nice already.
_CPU_MODES = {
    "user": "user",
    "nice": "nice",
    "system": "system",
    "idle": "idle",
    "iowait": "iowait",
    "irq": "interrupt",
    "softirq": "interrupt",
    "interrupt": "interrupt",
    "dpc": "interrupt",
    "steal": "steal",
}


@dataclass(frozen=True)
class DiskUsage:
    """How full the filesystem of ``path`` is; ``measured`` is the folder actually measured."""

    path: Path
    measured: Path
    mountpoint: Path
    percent: float
    free_bytes: int
    total_bytes: int


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent (a queue folder may not be created yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or os.sep)


def _mountpoint(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.ismount(candidate):
            return candidate
    return Path(path.anchor or os.sep)


def measure_disk(path: Path) -> DiskUsage:
    """The usage of the filesystem that holds ``path`` (or its nearest existing parent)."""
    measured = _existing_ancestor(path)
    usage = psutil.disk_usage(str(measured))
    return DiskUsage(
        path=path,
        measured=measured,
        mountpoint=_mountpoint(measured.resolve()),
        percent=float(usage.percent),
        free_bytes=int(usage.free),
        total_bytes=int(usage.total),
    )


@dataclass(frozen=True)
class _Filesystem:
    mountpoint: Path
    attributes: dict[str, str]


def _filesystems(paths: Sequence[Path]) -> list[_Filesystem]:
    """One entry per distinct filesystem of ``paths``, with device and type when known."""
    try:
        partitions = {Path(p.mountpoint): p for p in psutil.disk_partitions(all=True)}
    except Exception:  # noqa: BLE001 - device and type are a nicety, not a reason to fail
        partitions = {}
    found: dict[Path, _Filesystem] = {}
    for path in paths:
        mountpoint = _mountpoint(_existing_ancestor(path).resolve())
        if mountpoint in found:
            continue
        attributes = {
            semconv.SYSTEM_FILESYSTEM_MOUNTPOINT: str(mountpoint),
            semconv.SYSTEM_FILESYSTEM_STATE: "used",
        }
        partition = partitions.get(mountpoint)
        if partition is not None:
            attributes[semconv.SYSTEM_DEVICE] = partition.device
            attributes[semconv.SYSTEM_FILESYSTEM_TYPE] = partition.fstype
        found[mountpoint] = _Filesystem(mountpoint, attributes)
    return list(found.values())


@dataclass(frozen=True)
class _CpuSample:
    at: float
    process: float
    system: dict[str, float]


class SystemMetrics:
    """Reads the DESIGN's process and system values; each reading is cheap and never raises.

    CPU utilization is the change of CPU times between two readings, kept by this object
    rather than psutil's process-wide ``cpu_percent()`` state, which other code may reset.
    """

    def __init__(self, disk_paths: Sequence[Path] = ()) -> None:
        self._process = psutil.Process()
        try:
            self._cpus = len(self._process.cpu_affinity() or ()) or psutil.cpu_count() or 1
        except (AttributeError, psutil.Error, OSError):  # no affinity on macOS
            self._cpus = psutil.cpu_count() or 1
        self._filesystems = _filesystems(disk_paths)
        self._lock = threading.Lock()
        self._baseline = self._cpu_sample()
        self._process_utilization: float | None = None
        self._system_utilization: dict[str, float] = {}

    def _cpu_sample(self) -> _CpuSample:
        # The process's own times from times(2), not /proc/self/stat: the same clock ticks,
        # without a file read (100-400 µs on a virtual machine's /proc, once per collection).
        times = os.times()
        system: dict[str, float] = {}
        for field, value in psutil.cpu_times()._asdict().items():
            mode = _CPU_MODES.get(field)
            if mode is not None:
                system[mode] = system.get(mode, 0.0) + value
        return _CpuSample(time.monotonic(), times.user + times.system, system)

    def _update_cpu(self) -> None:
        with self._lock:
            elapsed = time.monotonic() - self._baseline.at
            if elapsed < MIN_CPU_WINDOW_S:
                # Too short a window measures clock ticks, not load: keep the last value (none
                # before the first full window).
                return
            current = self._cpu_sample()
            previous, self._baseline = self._baseline, current
            elapsed = current.at - previous.at
            used = max(current.process - previous.process, 0.0)
            self._process_utilization = min(used / (elapsed * self._cpus), 1.0)
            deltas = {
                mode: max(value - previous.system.get(mode, 0.0), 0.0)
                for mode, value in current.system.items()
            }
            total = sum(deltas.values())
            if total > 0:
                self._system_utilization = {mode: delta / total for mode, delta in deltas.items()}

    # -- one function per instrument, each returning its observations

    def process_cpu_utilization(self) -> list[Observation]:
        self._update_cpu()
        value = self._process_utilization
        return [] if value is None else [Observation(value)]

    def process_memory_usage(self) -> list[Observation]:
        return [Observation(self._process.memory_info().rss)]

    def process_thread_count(self) -> list[Observation]:
        return [Observation(self._process.num_threads())]

    def process_open_file_descriptor_count(self) -> list[Observation]:
        num_fds: Callable[[], int] | None = getattr(self._process, "num_fds", None)
        return [] if num_fds is None else [Observation(num_fds())]

    def system_cpu_utilization(self) -> list[Observation]:
        self._update_cpu()
        return [
            Observation(value, {semconv.CPU_MODE: mode})
            for mode, value in self._system_utilization.items()
        ]

    def system_memory_utilization(self) -> list[Observation]:
        memory = psutil.virtual_memory()
        used = (memory.total - memory.available) / memory.total if memory.total else 0.0
        return [Observation(used, {semconv.SYSTEM_MEMORY_STATE: "used"})]

    def system_filesystem_utilization(self) -> list[Observation]:
        observations = []
        for filesystem in self._filesystems:
            try:
                usage = psutil.disk_usage(str(filesystem.mountpoint))
            except OSError as exc:
                warn_once(
                    ("filesystem", filesystem.mountpoint),
                    "pywats_otel: cannot measure the filesystem at %s: %s",
                    filesystem.mountpoint,
                    exc,
                )
                continue
            observations.append(Observation(usage.percent / 100.0, filesystem.attributes))
        return observations


# The collector the instruments read; None when the instrumentation is off, which silences
# the callbacks of instruments already registered with a MeterProvider (they cannot be removed).
_current: SystemMetrics | None = None


def _callback(name: str, reading: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        collector = _current
        if collector is None:
            return []
        try:
            observations: list[Observation] = getattr(collector, reading)()
        except Exception as exc:  # noqa: BLE001 - a metric must never break a collection
            warn_once(("system-metric", name), "pywats_otel: cannot read %s: %s", name, exc)
            return []
        return observations

    return observe


#: Each instrument of the system instrumentation and the SystemMetrics method that reads it.
_READINGS = (
    (semconv.PROCESS_CPU_UTILIZATION, "process_cpu_utilization"),
    (semconv.PROCESS_MEMORY_USAGE, "process_memory_usage"),
    (semconv.PROCESS_THREAD_COUNT, "process_thread_count"),
    (semconv.PROCESS_OPEN_FILE_DESCRIPTOR_COUNT, "process_open_file_descriptor_count"),
    (semconv.SYSTEM_CPU_UTILIZATION, "system_cpu_utilization"),
    (semconv.SYSTEM_MEMORY_UTILIZATION, "system_memory_utilization"),
    (semconv.SYSTEM_FILESYSTEM_UTILIZATION, "system_filesystem_utilization"),
)


def _build(meter: Meter) -> list[Any]:
    return [create_instrument(meter, name, _callback(name, read)) for name, read in _READINGS]


_instruments = PerMeterProvider(_build)


def after_fork() -> None:
    """In a forked child: measure this process, not the parent (psutil.Process keeps a pid)."""
    collector = _current
    if collector is not None:
        collector._process = psutil.Process()
        collector._lock = threading.Lock()
        collector._baseline = collector._cpu_sample()
        collector._process_utilization = None


def turn_on(settings: TelemetrySettings) -> Callable[[], None]:
    """The ``system`` instrumentation: register the instruments, measuring ``disk_paths``."""
    global _current  # noqa: PLW0603 - the one collector the instruments read
    collector = SystemMetrics(settings.disk_paths)
    _current = collector
    _instruments.get()

    def undo() -> None:
        global _current  # noqa: PLW0603 - see turn_on
        if _current is collector:
            _current = None

    return undo
