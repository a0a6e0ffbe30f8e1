"""A pyWATS test station whose only telemetry line is init_telemetry(): pywats_otel traces it.

Each report file is converted by pywats-api's WATSStandardJsonConverter, queued in its
PersistentQueue, taken out with get_next()/mark_processing(), uploaded with
pyWATS(...).report.submit_report() and marked completed: one trace per file, from the
conversion to the HTTP upload, with pyWATS's log lines carrying its trace ID.

    pip install "pywats-api[client-headless]==0.6.0rc1" PySide6-Essentials
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 python examples/pywats_station.py

Options: ``--reports N`` (3), ``--folder DIR`` (a temporary folder), ``--phase`` ``enqueue``
(convert and queue, then stop), ``upload`` (upload what is queued: the trace goes on across
the restart) or ``all``; ``--async`` uploads with AsyncWATS through an AsyncQueueAdapter.
The WATS server is ``WATS_URL`` with ``WATS_TOKEN``, else a fake one on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from pywats_otel import init_telemetry


def write_test_files(folder: Path, count: int) -> list[Path]:
    from pywats.tools.test_uut import create_test_uut_report

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        report = create_test_uut_report(serial_number=f"SN-{number:04d}")
        path = folder / f"uut-{number:04d}.json"
        wsjf = report.model_dump(mode="json", by_alias=True, exclude_none=True)
        path.write_text(json.dumps(wsjf), encoding="utf-8")
        paths.append(path)
    return paths


def enqueue(folder: Path, count: int) -> None:
    from pywats_client.converters.context import ConverterContext
    from pywats_client.converters.models import ConverterSource
    from pywats_client.converters.standard.wats_standard_json_converter import (
        WATSStandardJsonConverter,
    )
    from pywats_client.queue.persistent_queue import PersistentQueue

    converter = WATSStandardJsonConverter()
    queue = PersistentQueue(folder / "queue")
    for path in write_test_files(folder / "inbox", count):
        result = converter.convert(ConverterSource.from_file(path), ConverterContext())
        if result.report is not None:
            queue.add(result.report, metadata={"file": path.name})
            print(f"queued {path.name}")


def upload(folder: Path, url: str, token: str) -> None:
    from pywats import pyWATS
    from pywats.core.station import Station
    from pywats_client.queue.persistent_queue import PersistentQueue

    queue = PersistentQueue(folder / "queue")
    api = pyWATS(base_url=url, token=token, station=Station(name="example-station", location="lab"))
    try:
        while (item := queue.get_next()) is not None:
            item.mark_processing()
            queue.update(item)
            try:
                report_id = api.report.submit_report(item.data)
            except Exception as exc:  # noqa: BLE001 - the station marks any failure, keeps the item
                item.mark_failed(str(exc))
            else:
                item.mark_completed()
                print(f"uploaded {item.metadata.get('file')}: {report_id}")
            queue.update(item)
    finally:
        api.close()


async def upload_async(folder: Path, url: str, token: str) -> None:
    from pywats import AsyncWATS
    from pywats.core.station import Station
    from pywats.queue.async_adapter import AsyncQueueAdapter
    from pywats_client.queue.persistent_queue import PersistentQueue

    queue = AsyncQueueAdapter(PersistentQueue(folder / "queue"))
    station = Station(name="example-station", location="lab")
    async with AsyncWATS(base_url=url, token=token, station=station) as api:
        while (item := await queue.get(timeout=0.5)) is not None:
            item.mark_processing()
            queue.update(item)
            try:
                report_id = await api.report.submit_report(item.data)
            except Exception as exc:  # noqa: BLE001 - as above
                item.mark_failed(str(exc))
            else:
                item.mark_completed()
                print(f"uploaded {item.metadata.get('file')}: {report_id}")
            queue.update(item)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--phase", choices=("enqueue", "upload", "all"), default="all")
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args()

    init_telemetry(service_name="pywats-example-station")

    # The station's own logging, as pyWATS sets it up (it replaces the root's handlers).
    from pywats.core.logging import configure_logging

    configure_logging(level="INFO")

    folder = args.folder or Path(tempfile.mkdtemp(prefix="pywats-station-"))
    server = None
    url = os.environ.get("WATS_URL")
    token = os.environ.get("WATS_TOKEN", "")
    if not url:
        from pywats_otel.testing.wats import FakeWATS

        server = FakeWATS()
        url, token = server.url, server.token
    try:
        if args.phase in ("enqueue", "all"):
            enqueue(folder, args.reports)
        if args.phase in ("upload", "all"):
            if args.use_async:
                asyncio.run(upload_async(folder, url, token))
            else:
                upload(folder, url, token)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
