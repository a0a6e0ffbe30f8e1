"""The demo station: files appear, converters turn them into reports, reports wait in an
on-disk queue and an httpx client uploads them to the fake WATS server, with retries.

Everything is instrumented through the public API (converter, queue, correlation, health), as
a pyWATS station would be; the telemetry itself is started by the caller (the CLI).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from pywats_otel import correlation, health, queue
from pywats_otel._base.text import plural
from pywats_otel._tools.demo.converters import convert
from pywats_otel._tools.demo.files import TestFileWriter
from pywats_otel._tools.demo.server import FakeWATSServer

__all__ = ["DemoOptions", "DemoSummary", "DiskQueue", "Station", "print_progress"]

QUEUE_NAME = "reports"
_logger = logging.getLogger("pywats_otel.demo")


@dataclass(frozen=True)
class DemoOptions:
    """How the demo runs; ``duration_s`` 0 means until stopped."""

    duration_s: float = 15.0
    rate: float = 5.0
    failure_rate: float = 0.1
    seed: int | None = None
    steps: int = 50
    max_attempts: int = 3
    upload_timeout_s: float = 1.0
    #: How long uploads may go on after the files stop, to empty the queue.
    drain_s: float = 5.0
    correlation_header: str = "X-Correlation-ID"


@dataclass
class DemoSummary:
    """The counts the demo prints at the end (and ``--json`` writes)."""

    duration_s: float = 0.0
    files: int = 0
    converted: int = 0
    conversion_failed: int = 0
    rejected: int = 0
    queued: int = 0
    uploaded: int = 0
    upload_retries: int = 0
    upload_failed: int = 0
    left_in_queue: int = 0
    server_received: int = 0
    server_errors: int = 0
    server_timeouts: int = 0
    reports_per_s: float = 0.0
    failed_trace_id: str = ""
    metrics_url: str | None = None
    health_url: str | None = None
    traces_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DiskQueue:
    """Reports as JSON files: ``pending/`` until sent, ``failed/`` after the last attempt.

    Each file holds the report, the attempt count and the telemetry carrier (``metadata``), so a
    report picked up after a restart still continues its trace.
    """

    def __init__(self, root: Path) -> None:
        self.pending = root / "pending"
        self.failed = root / "failed"
        for folder in (self.pending, self.failed):
            folder.mkdir(parents=True, exist_ok=True)

    def put(self, report: dict[str, Any]) -> None:
        metadata: dict[str, str] = {}
        with queue.enqueue(QUEUE_NAME, metadata, item_id=report["id"]):
            item = {"id": report["id"], "report": report, "attempt": 0, "not_before": 0.0}
            item["metadata"] = metadata
            self._write(self.pending / f"{time.time_ns()}-{report['id']}.json", item)

    @staticmethod
    def _write(path: Path, item: dict[str, Any]) -> None:
        # Write beside and rename, so a crash never leaves half a report in the queue.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(item), encoding="utf-8")
        os.replace(partial, path)

    def due(self) -> tuple[Path, dict[str, Any]] | None:
        """The oldest pending item whose retry time has come, or None."""
        now = time.time()
        for path in sorted(self.pending.glob("*.json")):
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if float(item.get("not_before", 0.0)) <= now:
                return path, item
        return None

    def retry_later(self, path: Path, item: dict[str, Any], delay_s: float) -> None:
        item["not_before"] = time.time() + delay_s
        self._write(path, item)

    def give_up(self, path: Path) -> None:
        os.replace(path, self.failed / path.name)

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def depth(self) -> dict[str, int]:
        """Items per state, for the ``pywats.queue.depth`` gauge."""
        return {
            "pending": sum(1 for _ in self.pending.glob("*.json")),
            "failed": sum(1 for _ in self.failed.glob("*.json")),
        }


@dataclass
class _Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    values: dict[str, int] = field(default_factory=dict)
    failed_trace_id: str = ""
    failed_upload: bool = False

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.values[name] = self.values.get(name, 0) + amount

    def get(self, name: str) -> int:
        with self.lock:
            return self.values.get(name, 0)

    def failure(self, trace_id: str, *, upload: bool = False) -> None:
        """Note a report that failed for good; an upload's failure (a longer trace: convert,
        queue, every attempt) wins over a converter's."""
        with self.lock:
            if trace_id and (upload or not self.failed_upload):
                self.failed_trace_id = trace_id
                self.failed_upload = upload


class Station:
    """The demo station. :meth:`run` blocks until the files stop and the queue is drained, or
    :meth:`stop` is called. The fake WATS server runs from the start until
    :meth:`stop_server`: stop it after telemetry, whose health check requests it."""

    def __init__(self, options: DemoOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.inbox = workdir / "inbox"
        self.archive = workdir / "archive"
        for folder in (self.inbox, self.archive):
            folder.mkdir(parents=True, exist_ok=True)
        self.queue = DiskQueue(workdir / "queue")
        share = options.failure_rate
        # The failure share is spread over the stations's steps: broken files get half of it,
        # server errors a third and server timeouts a sixth.
        self.server = FakeWATSServer(
            error_rate=share / 3,
            timeout_rate=share / 6,
            slow_s=options.upload_timeout_s + 0.5,
            seed=options.seed,
            correlation_header=options.correlation_header,
        )
        self.writer = TestFileWriter(
            self.inbox, failure_rate=share / 2, steps=options.steps, seed=options.seed
        )
        self.counts = _Counts()
        self._stop = threading.Event()
        self._files_done = threading.Event()
        self._converter_done = threading.Event()
        self._started = time.monotonic()
        self._unregister_depth: Callable[[], None] | None = None

    @property
    def health_url(self) -> str:
        return f"{self.server.url}/api/health"

    # -- the threads

    def _generate(self) -> None:
        interval = 1.0 / self.options.rate if self.options.rate > 0 else 1.0
        next_at = time.monotonic()
        duration = self.options.duration_s
        try:
            while not self._stop.is_set():
                if duration > 0 and time.monotonic() >= self._started + duration:
                    return
                self.writer.write()
                self.counts.add("files")
                next_at += interval
                self._stop.wait(max(next_at - time.monotonic(), 0.0))
        finally:
            self._files_done.set()

    def _convert_inbox(self) -> None:
        try:
            while not self._stop.is_set():
                files = sorted(p for p in self.inbox.iterdir() if p.suffix != ".partial")
                if files:
                    for path in files:
                        self._convert_one(path)
                elif self._files_done.is_set():
                    return
                else:
                    self._stop.wait(0.02)
        finally:
            self._converter_done.set()

    def _convert_one(self, path: Path) -> None:
        def enqueue(report: dict[str, Any]) -> None:
            self.queue.put(report)
            self.counts.add("queued")

        result = convert(path, enqueue)
        if result.status == "failed":
            self.counts.failure(result.trace_id)
        name = {"success": "converted", "failed": "conversion_failed"}.get(result.status)
        self.counts.add(name or result.status)
        with contextlib.suppress(OSError):
            os.replace(path, self.archive / path.name)

    def _upload(self) -> None:
        options = self.options
        with httpx.Client(base_url=self.server.url, timeout=options.upload_timeout_s) as client:
            while not self._stop.is_set():
                found = self.queue.due()
                if found is not None:
                    self._upload_one(client, *found)
                    continue
                if self._converter_done.is_set() and (
                    not any(self.queue.pending.glob("*.json")) or self._drain_over()
                ):
                    return
                self._stop.wait(0.02)

    def _drain_over(self) -> bool:
        limit = self.options.duration_s + self.options.drain_s
        return time.monotonic() > self._started + limit

    def _upload_one(self, client: httpx.Client, path: Path, item: dict[str, Any]) -> None:
        attempt = int(item.get("attempt", 0)) + 1
        metadata = item.get("metadata") or {}
        with queue.process(QUEUE_NAME, metadata, item_id=item["id"], attempt=attempt) as work:
            try:
                response = client.post("/api/reports", json=item["report"])
                ok, retryable = response.is_success, response.status_code >= 500
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:  # timeouts and refused connections
                ok, retryable, problem = False, True, type(exc).__name__
            if ok:
                self.queue.done(path)
                self.counts.add("uploaded")
                return
            if retryable and attempt < self.options.max_attempts:
                work.outcome = "retry"
                item["attempt"] = attempt
                self.queue.retry_later(path, item, delay_s=0.1 * 2**attempt)
                self.counts.add("upload_retries")
                _logger.info("upload of %s: %s, retry %d", item["id"], problem, attempt)
                return
            work.outcome = "failed"
            self.queue.give_up(path)
            self.counts.add("upload_failed")
            self.counts.failure(correlation.current_correlation_id(), upload=True)
            _logger.warning(
                "upload of %s failed after %d attempts: %s", item["id"], attempt, problem
            )

    # -- running

    def run(self, progress: Callable[[str], None] | None = None) -> DemoSummary:
        """Run until the files stop and the queue is drained (or stop()); the summary."""
        self._unregister_depth = queue.observe_queue_depth(QUEUE_NAME, self.queue.depth)
        health.register_check("report-queue", self._queue_writable, critical=True, timeout_s=1.0)
        health.register_check("inbox-backlog", self._inbox_backlog, critical=False, timeout_s=1.0)
        threads = [
            threading.Thread(target=self._generate, name="demo-files", daemon=True),
            threading.Thread(target=self._convert_inbox, name="demo-converter", daemon=True),
            threading.Thread(target=self._upload, name="demo-uploader", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                threads[-1].join(0.5)
                if progress is not None:
                    progress(self.progress_line())
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(2.0)
        return self.summary()

    def stop(self) -> None:
        self._stop.set()

    def stop_server(self) -> None:
        """Stop the fake WATS server (after telemetry's shutdown, or its check fails)."""
        self.server.stop()

    def close(self) -> None:
        """Take the station's callbacks and checks out of the telemetry."""
        if self._unregister_depth is not None:
            self._unregister_depth()
        health.unregister_check("report-queue")
        health.unregister_check("inbox-backlog")

    def _queue_writable(self) -> str:
        probe = self.queue.pending / ".probe"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
        return f"{plural(self.queue.depth()['pending'], 'report')} pending"

    def _inbox_backlog(self) -> health.CheckResult:
        waiting = sum(1 for _ in self.inbox.glob("*.*"))
        if waiting > 100:
            return health.warn(f"{plural(waiting, 'file')} waiting for conversion")
        return health.ok(f"{plural(waiting, 'file')} waiting for conversion")

    def progress_line(self) -> str:
        counts = self.counts
        elapsed = time.monotonic() - self._started
        rate = counts.get("uploaded") / elapsed if elapsed > 0 else 0.0
        return (
            f"[{elapsed:5.1f}s] files {counts.get('files')} | converted {counts.get('converted')}"
            f" | failed {counts.get('conversion_failed')} | rejected {counts.get('rejected')}"
            f" | queued {self.queue.depth()['pending']} | uploaded {counts.get('uploaded')}"
            f" | retries {counts.get('upload_retries')} | upload failed "
            f"{counts.get('upload_failed')} | {rate:.1f} reports/s"
        )

    def summary(self) -> DemoSummary:
        counts = self.counts
        elapsed = time.monotonic() - self._started
        uploaded = counts.get("uploaded")
        return DemoSummary(
            duration_s=round(elapsed, 2),
            files=counts.get("files"),
            converted=counts.get("converted"),
            conversion_failed=counts.get("conversion_failed"),
            rejected=counts.get("rejected"),
            queued=counts.get("queued"),
            uploaded=uploaded,
            upload_retries=counts.get("upload_retries"),
            upload_failed=counts.get("upload_failed"),
            left_in_queue=self.queue.depth()["pending"],
            server_received=len(self.server.reports),
            server_errors=self.server.errors,
            server_timeouts=self.server.timeouts,
            reports_per_s=round(uploaded / elapsed, 2) if elapsed > 0 else 0.0,
            failed_trace_id=counts.failed_trace_id,
        )


def print_progress(stream: TextIO) -> Callable[[str], None]:
    """A progress printer: one rewritten line on a terminal, a line every 2 s elsewhere."""
    if stream.isatty():

        def show(line: str) -> None:
            stream.write("\r" + line)
            stream.flush()

        return show
    last = [0.0]

    def log(line: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0:
            last[0] = now
            stream.write(line + "\n")
            stream.flush()

    return log
