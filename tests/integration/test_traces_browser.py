"""/traces in a real browser (headless Chromium): what it shows of a failed conversion and a
failed upload, the link to one trace, and that the page needs nothing from elsewhere."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace

from pywats_otel import converter, init_telemetry


def _failures(tmp_path: Path, http_server: Any) -> str:
    """A converter that fails on a tester file and an upload answered 503; the upload's
    trace ID."""
    tester_file = tmp_path / "ict-0042.csv"
    tester_file.write_text("step,value\nvoltage,n/a\n")

    @converter.traced_converter("ict-csv")
    def convert(path: Path) -> dict[str, Any]:
        raise ValueError("row 2: could not convert 'n/a' to float")

    with contextlib.suppress(ValueError):
        convert(tester_file)
    http_server.plan["/api/reports"] = [503]
    with trace.get_tracer("station").start_as_current_span("upload report") as span:
        httpx.post(f"{http_server.url}/api/reports?token=abc", json={}, timeout=5)
    with trace.get_tracer("station").start_as_current_span("archive report"):
        pass
    return f"{span.get_span_context().trace_id:032x}"


def test_the_browser_shows_the_failed_traces_first_and_one_trace_by_its_link(
    browser: Any, tmp_path: Path, http_server: Any
) -> None:
    telemetry = init_telemetry(
        service_name="station-7", prometheus_host="127.0.0.1", prometheus_port=0
    )
    upload = _failures(tmp_path, http_server)
    assert telemetry.traces_url is not None
    browser.open(telemetry.traces_url)
    shown = browser.text()
    header = browser.text("header")
    assert header.startswith("Recent traces of station-7\n\n3 traces kept, 2 failed;")
    # Failed first (the newest first), then the good one.
    assert (
        shown.index("FAILED (2)")
        < shown.index("upload report")
        < shown.index("convert ict-csv")
        < shown.index("RECENT (1)")
        < shown.index("archive report")
    )
    assert browser.count("section.trace.failed") == 2
    assert browser.count("section.trace:not(.failed)") == 1
    assert "ValueError: row 2: could not convert 'n/a' to float" in shown
    assert "http.response.status_code=503" in shown
    assert f"url.full={http_server.url}/api/reports?token=REDACTED" in shown
    assert "token=abc" not in shown
    # The page has no script and loads nothing besides itself (not even an icon).
    assert browser.count("script, img, iframe, link[rel=stylesheet]") == 0
    assert browser.run("return performance.getEntriesByType('resource').length;") == 0
    png = browser.screenshot(tmp_path / "traces.png", full_page=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    browser.click(f"a[href='/traces/{upload}']")
    assert browser.url().endswith(f"/traces/{upload}")
    one = browser.text()
    assert one.startswith(f"Trace {upload}\n\nstation-7 · upload report · /traces")
    # Every attribute of each span, the POST under its parent.
    assert "parent_span_id\t(root)" in one
    assert "http.request.method\tPOST" in one
    assert "http.response.status_code\t503" in one
    rows = browser.count("ul.tree > li > ul > li")
    assert rows == 1
