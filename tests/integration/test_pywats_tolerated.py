"""pywats-api 0.6.0rc1 as it is, bugs included: each scenario runs without telemetry and with
the pywats instrumentation on, and pyWATS does exactly the same in both (files, states,
exceptions, HTTP requests); with telemetry the spans say what happened. Nothing is fixed."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pywats_otel import semconv
from pywats_otel.testing import CapturedTelemetry, capture_telemetry

pytestmark = pytest.mark.usefixtures("pywats_api")


@pytest.fixture(params=["without telemetry", "instrumented"])
def telemetry(request: pytest.FixtureRequest) -> Iterator[CapturedTelemetry | None]:
    """None: pyWATS as shipped; else the capture of a running init_telemetry()."""
    if request.param == "without telemetry":
        yield None
        return
    with capture_telemetry() as captured:
        assert "pywats" in captured.telemetry.instrumentations
        yield captured


def _station() -> Any:
    from pywats.core.station import Station

    return Station(name="test-station", location="lab", purpose="test")


def _wsjf(serial: str) -> str:
    from pywats.tools.test_uut import create_minimal_test_report

    report = create_minimal_test_report(serial_number=serial)
    return json.dumps(report.model_dump(mode="json", by_alias=True, exclude_none=True))


def _listing(folder: Path) -> list[str]:
    # The pending queue's sidecar is pywats_otel's one addition to a folder.
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".trace.json"))


# -- AsyncPendingQueue ----------------------------------------------------------------------


def test_the_pending_queue_calls_a_missing_submit_raw_and_retries_forever(
    tmp_path: Path, fake_wats: Any, telemetry: CapturedTelemetry | None
) -> None:
    """Every upload ends in .error without an HTTP request (submit_raw() does not exist), and
    _mark_error resets the attempts, so the retries never stop; traced, the attempts are
    one trace of failed CONSUMER spans, each retry a child of the first."""
    from pywats import AsyncWATS
    from pywats_client.service.async_pending_queue import AsyncPendingQueue

    (tmp_path / "r1.queued").write_text(_wsjf("SN-PENDING-1"), encoding="utf-8")
    attempts: list[int] = []

    async def run() -> AsyncPendingQueue:
        async with AsyncWATS(
            base_url=fake_wats.url, token=fake_wats.token, station=_station()
        ) as api:
            queue = AsyncPendingQueue(api, tmp_path)
            queue.ERROR_RETRY_DELAY = timedelta(0)
            for _ in range(3):
                await queue.submit_all_pending()
                info = json.loads((tmp_path / "r1.error.info").read_text(encoding="utf-8"))
                attempts.append(info["attempts"])
                await queue._retry_error_files()
            await queue.submit_all_pending()
            return queue

    queue = asyncio.run(run())
    info = json.loads((tmp_path / "r1.error.info").read_text(encoding="utf-8"))
    assert _listing(tmp_path) == ["r1.error", "r1.error.info"]
    assert "submit_raw" in info["error"]
    assert attempts == [1, 1, 1]
    assert {k: queue.stats[k] for k in ("total_submitted", "successful", "errors", "retries")} == {
        "total_submitted": 0,
        "successful": 0,
        "errors": 4,
        "retries": 3,
    }
    assert fake_wats.requests == []
    if telemetry is None:
        return
    spans = telemetry.spans(name=f"process {tmp_path.name}")
    assert len(spans) == 4
    first, *retries = spans
    assert all(s.context.trace_id == first.context.trace_id for s in spans)
    assert all(s.parent.span_id == first.context.span_id for s in retries)
    assert all(s.attributes[semconv.QUEUE_OUTCOME] == "retry" for s in spans)
    assert all("submit_raw" in (s.status.description or "") for s in spans)
    assert all(s.attributes[semconv.MESSAGING_MESSAGE_ID] == "r1" for s in spans)


# -- AsyncConverterPool ---------------------------------------------------------------------


def test_the_converter_pool_loads_no_converter(telemetry: CapturedTelemetry | None) -> None:
    """_create_converter imports names that do not exist: the pool runs with no converter."""
    from pywats_client.service.async_converter_pool import AsyncConverterPool

    pool = AsyncConverterPool(config=None, api=None)
    with pytest.raises(ImportError, match="Converter"):
        asyncio.run(pool._create_converter({"type": "WATSStandardJsonConverter"}))

    class Config:
        converters = [{"type": "WATSStandardJsonConverter"}]

    pool.config = Config()
    asyncio.run(pool._load_converters())
    assert pool._converters == []


def test_the_converter_base_path_calls_a_missing_fileinfo_from_path(
    tmp_path: Path, telemetry: CapturedTelemetry | None
) -> None:
    """The pool's ConverterBase branch raises AttributeError (FileInfo.from_path)."""
    from pywats_client.converters.base import CSVConverter
    from pywats_client.service.async_converter_pool import (
        AsyncConversionItem,
        AsyncConverterPool,
    )

    source = tmp_path / "x.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    pool = AsyncConverterPool(config=None, api=None, enable_sandbox=False)
    with pytest.raises(AttributeError, match="from_path"):
        asyncio.run(pool._convert_unsandboxed(AsyncConversionItem(source, CSVConverter())))


def test_the_pool_swallows_failures_and_marks_what_it_can(
    tmp_path: Path, fake_wats: Any, telemetry: CapturedTelemetry | None
) -> None:
    """A stock FileConverter uploads and then fails on attributes it lacks (the item ends
    failed); a failed conversion is swallowed and the item marked completed. Traced, each file
    is one trace: send -> process -> convert (-> the upload), the outcome the item's status."""
    from pywats import AsyncWATS
    from pywats_client.converters.standard.wats_standard_json_converter import (
        WATSStandardJsonConverter,
    )
    from pywats_client.service.async_converter_pool import (
        AsyncConversionItem,
        AsyncConverterPool,
    )

    good = tmp_path / "good.json"
    good.write_text(_wsjf("SN-POOL-1"), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")

    class WithAttributes(WATSStandardJsonConverter):
        post_process_action = None
        archive_path = None
        error_path = None

    async def run() -> tuple[dict[str, tuple[str, str, int]], dict[str, Any]]:
        async with AsyncWATS(
            base_url=fake_wats.url, token=fake_wats.token, station=_station()
        ) as api:
            pool = AsyncConverterPool(config=None, api=api)
            found = {}
            for case, converter, path in (
                ("stock, good file", WATSStandardJsonConverter(), good),
                ("with attributes, bad file", WithAttributes(), bad),
                ("with attributes, good file", WithAttributes(), good),
            ):
                pool._queue.put_nowait(
                    data=AsyncConversionItem(path, converter), metadata={"file": path.name}
                )
                item = await pool._queue.get(timeout=1)
                item.mark_processing()
                pool._queue.update(item)
                before = len(fake_wats.requests)
                await pool._process_with_limit(item.data, item)
                found[case] = (
                    item.status.value,
                    item.data.state.value,
                    len(fake_wats.requests) - before,
                )
            return found, pool.stats

    found, stats = asyncio.run(run())
    assert found == {
        "stock, good file": ("failed", "Error", 1),
        "with attributes, bad file": ("completed", "Error", 0),
        "with attributes, good file": ("completed", "Completed", 1),
    }
    assert {k: stats[k] for k in ("total_processed", "successful", "errors")} == {
        "total_processed": 3,
        "successful": 1,
        "errors": 2,
    }
    if telemetry is None:
        return
    processes = telemetry.spans(name="process memory")
    sends = telemetry.spans(name="send memory")
    converts = telemetry.spans(name="convert WATS Standard JSON Format Converter")
    assert [p.attributes[semconv.QUEUE_OUTCOME] for p in processes] == [
        "failed",
        "success",
        "success",
    ]
    assert [c.attributes[semconv.CONVERTER_STATUS] for c in converts] == [
        "success",
        "failed",
        "success",
    ]
    for send, process, convert in zip(sends, processes, converts, strict=True):
        assert process.parent.span_id == send.context.span_id
        assert convert.parent.span_id == process.context.span_id


# -- PersistentQueue ------------------------------------------------------------------------


def test_persistent_queue_update_never_renames_and_items_come_back(
    tmp_path: Path, telemetry: CapturedTelemetry | None
) -> None:
    """update() compares the item with itself: files are never renamed, a completed item is
    pending again after a restart; the carrier rides along in its metadata."""
    from pywats.shared.enums import QueueItemStatus
    from pywats_client.queue.persistent_queue import PersistentQueue

    queue = PersistentQueue(tmp_path)
    item = queue.add({"sn": "SN-PERSISTENT-1"}, metadata={"k": "v"})
    item.mark_processing()
    queue.update(item)
    after_processing = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    item.mark_completed()
    queue.update(item)
    after_completed = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    again = PersistentQueue(tmp_path).get(item.id)
    assert after_processing == ["pending.meta.json", "pending.wsjf", "processing.meta.json"]
    assert after_completed == [
        "completed.meta.json",
        "pending.meta.json",
        "pending.wsjf",
        "processing.meta.json",
    ]
    assert again.status is QueueItemStatus.PENDING
    assert again.attempts == 0
    carrier_keys = {"traceparent", "tracestate", semconv.CARRIER_ENQUEUED_AT}
    assert {k: v for k, v in again.metadata.items() if k not in carrier_keys} == {"k": "v"}
    if telemetry is not None:
        [send] = telemetry.spans(name=f"send {tmp_path.name}")
        assert again.metadata["traceparent"].split("-")[2] == format(send.context.span_id, "016x")


# -- HealthServer ---------------------------------------------------------------------------


def test_health_server_ready_is_always_503_and_stop_never_returns(
    telemetry: CapturedTelemetry | None,
) -> None:
    """/health/ready needs details pyWATS never sets; stop() waits for a serve_forever() that
    never ran. pywats_otel's check of it goes before stop() blocks."""
    from pywats_client.service.health_server import HealthServer, HealthStatus

    from pywats_otel import health

    server = HealthServer(port=0, host="127.0.0.1")
    server.set_health_check(
        lambda: HealthStatus(healthy=True, status="running", details={"service_status": "Running"})
    )
    assert server.start()
    port = server._server.server_address[1]

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert (status("/health"), status("/health/live"), status("/health/ready")) == (200, 200, 503)
    if telemetry is not None:
        assert "pywats-service" in health.default_registry().names()
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(1.0)
    assert stopper.is_alive()  # still blocked, as without telemetry
    assert "pywats-service" not in health.default_registry().names()


# -- the HTTP client ------------------------------------------------------------------------


@contextmanager
def _async_api(fake_wats: Any, **options: Any) -> Iterator[Any]:
    from pywats import AsyncWATS

    yield AsyncWATS(base_url=fake_wats.url, token=fake_wats.token, station=_station(), **options)


def test_a_cached_get_never_reaches_the_request_and_a_post_is_never_retried(
    fake_wats: Any, telemetry: CapturedTelemetry | None
) -> None:
    """Two GETs make one request (pyWATS's cache answers the second, so it is no API call
    span); a POST answered 503 is not retried, even with AsyncWATS's retries on."""
    from pywats.core.retry import RetryConfig

    async def run() -> list[Any]:
        with _async_api(fake_wats, retry_config=RetryConfig(base_delay=0.01)) as api:
            async with api:
                first = await api.http_client.get("/api/App/Version")
                second = await api.http_client.get("/api/App/Version")
                fake_wats.fail_next(503)
                posted = await api.http_client.post("/api/Report/WSJF", data={"type": "T"})
                return [first, second, posted]

    first, second, posted = asyncio.run(run())
    assert second is first  # the cached Response object itself
    assert posted.status_code == 503
    assert [(r.method, r.status) for r in fake_wats.requests] == [("GET", 200), ("POST", 503)]
    if telemetry is not None:
        names = [s.name for s in telemetry.spans() if s.name.startswith("WATS ")]
        assert names == ["WATS GET /api/App/Version", "WATS POST /api/Report/WSJF"]
