"""The recent traces behind /traces: bounds, failed traces kept apart, the page's HTML and JSON
(values, order, redaction, escaping), the tree exporter's output."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from pywats_otel._base import span_tree
from pywats_otel._base.redact import set_secrets
from pywats_otel._config.tree_exporter import TreeSpanExporter
from pywats_otel._pipeline import traces_page
from pywats_otel._pipeline.recent_traces import RecentTraces


def _provider(recent: RecentTraces) -> trace.Tracer:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recent)
    return provider.get_tracer("station")


def _trace(tracer: trace.Tracer, name: str, *, fail: bool = False, children: int = 1) -> str:
    with tracer.start_as_current_span(name) as root:
        for index in range(children):
            with tracer.start_as_current_span(f"{name} step {index}") as child:
                if fail and index == children - 1:
                    child.set_status(Status(StatusCode.ERROR, "HTTP 503"))
    return f"{root.get_span_context().trace_id:032x}"


@pytest.mark.parametrize("drain_at", [1, 3, 7, 2048])
def test_it_keeps_the_last_traces_and_the_last_failed_ones_apart(drain_at: int) -> None:
    """Limits 3 traces and 2 failed: a failed trace stays when 5 good ones follow it, however
    the ended spans were batched before being sorted into traces."""
    recent = RecentTraces(max_traces=3, max_failed=2, max_spans=10, drain_at=drain_at)
    tracer = _provider(recent)
    old_failure = _trace(tracer, "upload 1", fail=True)
    newer_failure = _trace(tracer, "upload 2", fail=True)
    good = [_trace(tracer, f"convert {index}") for index in range(5)]
    kept = [record.trace_id_hex for record in recent.traces()]
    # Failed first, newest first; then the last three good ones, newest first.
    assert kept == [newer_failure, old_failure, good[4], good[3], good[2]]
    assert recent.counts() == (5, 2)
    third_failure = _trace(tracer, "upload 3", fail=True)
    kept = [record.trace_id_hex for record in recent.traces()]
    assert kept[:2] == [third_failure, newer_failure]
    assert old_failure not in kept


@pytest.mark.parametrize("drain_at", [1, 4, 2048])
def test_spans_beyond_the_cap_are_counted_not_kept(drain_at: int) -> None:
    recent = RecentTraces(max_traces=5, max_failed=5, max_spans=4, drain_at=drain_at)
    tracer = _provider(recent)
    trace_id = _trace(tracer, "batch", children=9)
    record = recent.get(int(trace_id, 16))
    assert record is not None
    assert (len(record.spans), record.spans_dropped) == (4, 6)
    # The first four that ended: the children, in the order they ended.
    assert [span.name for span in record.spans] == [f"batch step {i}" for i in range(4)]


@pytest.mark.parametrize(("drain_at", "kept"), [(2048, True), (5, False), (1, False)])
def test_a_failure_keeps_the_spans_that_ended_shortly_before_it(drain_at: int, kept: bool) -> None:
    """A failed trace whose first span ended before many other traces (a queue item's upload
    after other reports) keeps it while fewer than drain_at spans ended in between: they are
    sorted into traces together, and the failure decides which stay."""
    recent = RecentTraces(max_traces=2, max_failed=3, max_spans=50, drain_at=drain_at)
    tracer = _provider(recent)
    root = tracer.start_span("report")
    in_report = trace.set_span_in_context(root)
    tracer.start_span("convert", context=in_report).end()
    for index in range(6):
        _trace(tracer, f"other {index}")
    upload = tracer.start_span("upload", context=in_report)
    upload.set_status(Status(StatusCode.ERROR, "HTTP 503"))
    upload.end()
    root.end()
    record = recent.get(root.get_span_context().trace_id)
    assert record is not None
    assert record.failed
    expected = ["convert", "upload", "report"] if kept else ["upload", "report"]
    assert [span.name for span in record.spans] == expected


def _page(recent: RecentTraces, path: str = "/traces", accept: str = "text/html") -> Any:
    status, content_type, body = traces_page.respond(recent, path, accept)
    return status, content_type, body.decode()


def test_the_json_list_gives_each_trace_as_a_tree_failed_first() -> None:
    recent = RecentTraces()
    tracer = _provider(recent)
    good = _trace(tracer, "convert csv")
    bad = _trace(tracer, "upload", fail=True, children=2)
    status, content_type, body = _page(recent, accept="application/json")
    assert (status, content_type) == (200, "application/json")
    payload = json.loads(body)
    assert payload["limits"] == {"traces": 100, "failed_traces": 50, "spans_per_trace": 200}
    assert payload["kept"] == {"traces": 2, "failed": 1}
    first, second = payload["traces"]
    assert (first["trace_id"], first["root"], first["failed"], first["errors"]) == (
        bad,
        "upload",
        True,
        1,
    )
    assert [(s["name"], s["depth"], s["status"]) for s in first["spans"]] == [
        ("upload", 0, "UNSET"),
        ("upload step 0", 1, "UNSET"),
        ("upload step 1", 1, "ERROR"),
    ]
    root_id = first["spans"][0]["span_id"]
    assert first["spans"][0]["parent_span_id"] is None
    assert {s["parent_span_id"] for s in first["spans"][1:]} == {root_id}
    assert first["spans"][2]["error"] == "HTTP 503"
    assert (second["trace_id"], second["failed"]) == (good, False)


def test_one_trace_by_id_carries_every_attribute_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """URL credentials and sensitive query values, and registered secrets, never show."""
    set_secrets(["s3cr3t-api-key"])
    try:
        recent = RecentTraces()
        tracer = _provider(recent)
        with tracer.start_as_current_span(
            "POST",
            attributes={
                "url.full": "https://user:pw@wats.example.com/api?token=abc&station=7",
                "http.request.header.x_api_key": ["s3cr3t-api-key"],
                "pywats.note": "<b>bold</b>",
            },
        ) as span:
            span.add_event("retry", {"reason": "s3cr3t-api-key expired"})
        trace_id = f"{span.get_span_context().trace_id:032x}"
        status, _, body = _page(recent, f"/traces/{trace_id}", "application/json")
        [entry] = json.loads(body)["spans"]
        status_html, _, page = _page(recent, f"/traces/{trace_id}")
    finally:
        set_secrets([])
    assert status == status_html == 200
    assert entry["attributes"] == {
        "url.full": "https://REDACTED:REDACTED@wats.example.com/api?token=REDACTED&station=7",
        "http.request.header.x_api_key": ["***"],
        "pywats.note": "<b>bold</b>",
    }
    assert entry["events"][0]["attributes"] == {"reason": "*** expired"}
    assert "s3cr3t" not in page
    assert "user:pw" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page


def test_the_html_list_is_plain_and_self_contained() -> None:
    """No script and nothing loaded from elsewhere; failed section first with the error."""
    recent = RecentTraces()
    tracer = _provider(recent)
    _trace(tracer, "convert csv")
    bad = _trace(tracer, "upload", fail=True)
    status, content_type, page = _page(recent)
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<link rel="icon" href="data:,">' in page  # no /favicon.ico request either
    assert "@import" not in page
    assert page.index("Failed (1)") < page.index("Recent (1)")
    assert f'href="/traces/{bad}"' in page
    assert '<span class="err">HTTP 503</span>' in page


def test_an_unknown_or_malformed_trace_id_is_404() -> None:
    recent = RecentTraces()
    status, _, body = _page(recent, "/traces/" + "a" * 32, "application/json")
    assert status == 404
    assert json.loads(body)["error"].startswith(f"no trace {'a' * 32} is kept here")
    status, _, body = _page(recent, "/traces/xyz")
    assert status == 404
    assert "a trace ID is 32 hexadecimal characters" in body


def test_json_is_chosen_by_accept_or_query() -> None:
    assert traces_page.wants_json("application/json", "")
    assert traces_page.wants_json("*/*", "format=json")
    assert not traces_page.wants_json("text/html,application/xhtml+xml,*/*;q=0.8", "")
    assert not traces_page.wants_json("text/html, application/json;q=0.5", "")
    assert not traces_page.wants_json("*/*", "")


# -- the tree exporter -------------------------------------------------------------------------


def test_the_tree_exporter_prints_each_local_trace_when_its_root_ends() -> None:
    out = io.StringIO()
    exporter = TreeSpanExporter(out, color=False)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource({"service.name": "station-7"}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("station")
    with tracer.start_as_current_span(
        "convert csv", attributes={"pywats.converter.name": "csv"}
    ) as root:
        with tracer.start_as_current_span("send reports"), tracer.start_as_current_span("write"):
            pass
        assert out.getvalue() == ""  # nothing before the root ends
        with tracer.start_as_current_span("archive") as last:
            last.set_status(Status(StatusCode.ERROR, "disk full"))
    lines = out.getvalue().splitlines()
    trace_id = f"{root.get_span_context().trace_id:032x}"
    assert lines[0] == f"trace {trace_id}  station-7"
    shape = [re.sub(r"  \d+\.\d+ m?s", "  <d>", line) for line in lines[1:]]
    assert shape == [
        "convert csv  <d>  pywats.converter.name=csv",
        "├─ send reports  <d>",
        "│  └─ write  <d>",
        "└─ archive  <d>  ERROR  disk full",
    ]


def test_the_tree_exporter_colours_only_when_asked() -> None:
    out = io.StringIO()
    provider = TracerProvider(shutdown_on_exit=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(TreeSpanExporter(out, color=True)))
    with provider.get_tracer("t").start_as_current_span("x") as span:
        span.set_status(Status(StatusCode.ERROR, "bad"))
    assert "\x1b[31mERROR\x1b[0m" in out.getvalue()
    plain = io.StringIO()  # not a terminal: no colour by default
    provider2 = TracerProvider(shutdown_on_exit=False)
    provider2.add_span_processor(SimpleSpanProcessor(TreeSpanExporter(plain)))
    with provider2.get_tracer("t").start_as_current_span("x") as span:
        span.set_status(Status(StatusCode.ERROR, "bad"))
    assert "\x1b" not in plain.getvalue()


def test_durations_read_well() -> None:
    assert span_tree.format_duration(420_000) == "0.42 ms"
    assert span_tree.format_duration(12_340_000) == "12.3 ms"
    assert span_tree.format_duration(1_240_000_000) == "1.24 s"
