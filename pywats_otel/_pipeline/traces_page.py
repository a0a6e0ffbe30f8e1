"""``/traces``: the recent traces of this process, as a page for a browser or JSON for tools.

``GET /traces`` lists the kept traces (see ``recent_traces``), failed ones first, each as a
span tree with durations, status, error and key attributes; ``GET /traces/<trace ID>`` shows
one trace with every attribute and event of each span. ``Accept: application/json`` (or
``?format=json``) gives JSON instead of HTML. The HTML is plain and server-rendered: no
script, no external style sheet, font or image. Every text shown is escaped, and attributes
are redacted as everywhere else (URLs through ``redact_url()``, registered secrets scrubbed).
The endpoint puts its basic auth and TLS in front of it, as for ``/metrics``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pywats_otel import semconv
from pywats_otel._base import span_tree
from pywats_otel._base.timefmt import iso

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from pywats_otel._pipeline.recent_traces import RecentTraces, TraceRecord

__all__ = ["PATH", "respond"]

PATH = "/traces"
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def wants_json(accept: str, query: str) -> bool:
    """JSON when ``?format=json`` or when the client prefers application/json to HTML."""
    if "json" in parse_qs(query).get("format", []):
        return True
    accept = accept.lower()
    if "application/json" not in accept:
        return False
    html_at = accept.find("text/html")
    return html_at < 0 or accept.find("application/json") < html_at


def respond(recent: RecentTraces, raw_path: str, accept: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a request for ``raw_path`` (``/traces...``)."""
    parts = urlsplit(raw_path)
    path = parts.path.rstrip("/")
    as_json = wants_json(accept, parts.query)
    if path == PATH:
        records = recent.traces()
        if as_json:
            return _json(200, _list_json(recent, records))
        return _html(200, _list_page(recent, records))
    wanted = path.removeprefix(PATH + "/").lower()
    record = recent.get(int(wanted, 16)) if _TRACE_ID.match(wanted) else None
    if record is None:
        message = (
            f"no trace {wanted} is kept here (only the last {recent.max_traces} traces and "
            f"the last {recent.max_failed} failed ones are)"
            if _TRACE_ID.match(wanted)
            else "a trace ID is 32 hexadecimal characters"
        )
        if as_json:
            return _json(404, {"error": message, "traces": PATH})
        body = (
            f'<p class="notice">{html.escape(message)}.</p>'
            f'<p><a href="{PATH}">All kept traces</a></p>'
        )
        return _html(404, _page("Trace not found", body))
    if as_json:
        return _json(200, _trace_json(record, full=True))
    return _html(200, _trace_page(recent, record))


def _json(status: int, payload: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload, default=str).encode()


def _html(status: int, page: str) -> tuple[int, str, bytes]:
    return status, "text/html; charset=utf-8", page.encode("utf-8", "replace")


# -- JSON -----------------------------------------------------------------------------------


def _ms(nanoseconds: int) -> float:
    return round(nanoseconds / 1e6, 3)


def _time(nanoseconds: int | None) -> str | None:
    return iso(nanoseconds / 1e9) if nanoseconds else None


def _service(record: TraceRecord) -> str | None:
    for span in record.spans:
        name = span.resource.attributes.get(semconv.SERVICE_NAME)
        if name is not None:
            return str(name)
    return None


def _root(record: TraceRecord) -> ReadableSpan | None:
    roots = span_tree.build_trees(record.spans)
    return roots[0].span if roots else None


def _span_json(span: ReadableSpan, depth: int, full: bool) -> dict[str, Any]:
    context = span.context
    parent = span.parent
    entry: dict[str, Any] = {
        "name": span.name,
        "span_id": f"{context.span_id:016x}" if context is not None else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "depth": depth,
        "kind": span.kind.name,
        "start": _time(span.start_time),
        "end": _time(span.end_time),
        "duration_ms": _ms(span_tree.duration_ns(span)),
        "status": span_tree.status_name(span),
        "error": span_tree.error_text(span) or None,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }
    if full:
        entry["attributes"] = span_tree.span_attributes(span.attributes)
        entry["events"] = [
            {
                "name": event.name,
                "time": _time(event.timestamp),
                "attributes": span_tree.span_attributes(event.attributes),
            }
            for event in span.events
        ]
        entry["links"] = [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ]
    else:
        entry["attributes"] = dict(span_tree.key_attributes(span))
    return entry


def _trace_json(record: TraceRecord, *, full: bool) -> dict[str, Any]:
    root = _root(record)
    spans = [
        _span_json(node.span, depth, full)
        for tree in span_tree.build_trees(record.spans)
        for depth, node in tree.depth_first
    ]
    return {
        "trace_id": record.trace_id_hex,
        "service": _service(record),
        "root": root.name if root is not None else None,
        "failed": record.failed,
        "errors": record.errors,
        "start": _time(record.start_time),
        "duration_ms": _ms(max(record.end_time - record.start_time, 0)),
        "spans_kept": len(record.spans),
        "spans_dropped": record.spans_dropped,
        "spans": spans,
    }


def _list_json(recent: RecentTraces, records: Sequence[TraceRecord]) -> dict[str, Any]:
    kept, failed = recent.counts()
    return {
        "limits": {
            "traces": recent.max_traces,
            "failed_traces": recent.max_failed,
            "spans_per_trace": recent.max_spans,
        },
        "kept": {"traces": kept, "failed": failed},
        "traces": [_trace_json(record, full=False) for record in records],
    }


# -- HTML -----------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#f6f7f9;padding:12px 24px}
header h1{font-size:18px;margin:0 0 4px}header p{margin:0;color:#c3c8d2}
header a{color:#9ecbff}main{padding:8px 24px 32px}
h2{font-size:15px;margin:20px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:#5a6275}
.trace{background:#fff;border:1px solid #dde1e7;border-left:4px solid #3aa655;border-radius:4px;
margin:0 0 12px;padding:8px 12px}
.trace.failed{border-left-color:#d93838}
.trace h3{font-size:14px;margin:0 0 6px;font-weight:600}
.trace h3 a{color:#1d2330;text-decoration:none}.trace h3 a:hover{text-decoration:underline}
.meta{color:#5a6275;font-weight:400}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:18px}ul.tree{padding-left:0}
ul.tree ul{border-left:1px solid #dde1e7;margin-left:6px}
.span{display:flex;gap:10px;align-items:baseline;padding:2px 170px 2px 0;white-space:nowrap;
position:relative}
.name{font-weight:600}.dur{color:#5a6275;min-width:64px;text-align:right;
font-variant-numeric:tabular-nums}
.bar{position:absolute;right:0;top:7px;width:160px;height:8px;background:#eef0f3;
border-radius:2px}
.bar i{position:absolute;top:0;height:8px;background:#7aa7e0;border-radius:2px;min-width:2px}
.ERROR .bar i{background:#d93838}
.status{font-size:11px;font-weight:700;padding:0 5px;border-radius:3px}
.status.ERROR{background:#fde2e2;color:#a11d1d}.status.OK{background:#dcf3e2;color:#1d6b34}
.err{color:#a11d1d;white-space:normal}
.attrs{color:#5a6275;white-space:normal}.attrs b{font-weight:500;color:#39414f}
table.attributes{border-collapse:collapse;margin:4px 0 8px 22px;font-size:12px}
table.attributes td{border-top:1px solid #eef0f3;padding:2px 8px;vertical-align:top}
table.attributes td:first-child{color:#5a6275;white-space:nowrap}
pre{font-size:11px;background:#f6f7f9;padding:6px;margin:2px 0 6px 22px;white-space:pre-wrap}
.notice{background:#fff;border:1px solid #dde1e7;padding:12px;border-radius:4px}
"""


def _page(title: str, body: str, subtitle: str = "") -> str:
    links = (
        f'<a href="{PATH}">/traces</a> · <a href="/metrics">/metrics</a> · '
        '<a href="/health">/health</a> · JSON: <code>Accept: application/json</code>'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No icon to fetch either: browsers would ask for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{subtitle}{' · ' if subtitle else ''}"
        f"{links}</p></header><main>{body}</main></body></html>"
    )


def _attributes_text(pairs: Sequence[tuple[str, Any]]) -> str:
    return " ".join(
        f"<b>{html.escape(key)}</b>={html.escape(_text(value))}" for key, value in pairs
    )


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _span_row(span: ReadableSpan, start: int, total: int) -> str:
    status = span_tree.status_name(span)
    duration = span_tree.duration_ns(span)
    offset = 100 * ((span.start_time or start) - start) / total if total else 0
    width = 100 * duration / total if total else 100
    error = span_tree.error_text(span)
    cells = [
        f'<span class="name">{html.escape(span.name)}</span>',
        f'<span class="dur">{span_tree.format_duration(duration)}</span>',
        f'<span class="bar"><i style="left:{offset:.1f}%;width:{min(width, 100 - offset):.1f}%">'
        "</i></span>",
    ]
    if status != "UNSET":
        cells.append(f'<span class="status {status}">{status}</span>')
    if error:
        cells.append(f'<span class="err">{html.escape(error)}</span>')
    attributes = span_tree.key_attributes(span)
    if attributes:
        cells.append(f'<span class="attrs">{_attributes_text(attributes)}</span>')
    return f'<div class="span {status}">{"".join(cells)}</div>'


def _details(span: ReadableSpan) -> str:
    context, parent = span.context, span.parent
    rows = [
        ("span_id", f"{context.span_id:016x}" if context is not None else ""),
        ("parent_span_id", f"{parent.span_id:016x}" if parent is not None else "(root)"),
        ("kind", span.kind.name),
        ("scope", span.instrumentation_scope.name if span.instrumentation_scope else ""),
        ("start", _time(span.start_time) or ""),
        *sorted(span_tree.span_attributes(span.attributes).items()),
    ]
    table = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{html.escape(_text(value))}</td></tr>"
        for key, value in rows
    )
    events = ""
    for event in span.events:
        attributes = span_tree.span_attributes(event.attributes)
        stack = attributes.pop(semconv.EXCEPTION_STACKTRACE, None)
        events += (
            f"<tr><td>event {html.escape(event.name)}</td>"
            f"<td>{html.escape(_time(event.timestamp) or '')} "
            f"{_attributes_text(sorted(attributes.items()))}</td></tr>"
        )
        if stack:
            events += f"<tr><td></td><td><pre>{html.escape(str(stack))}</pre></td></tr>"
    return f'<table class="attributes">{table}{events}</table>'


def _tree_html(record: TraceRecord, *, full: bool) -> str:
    start = record.start_time
    total = max(record.end_time - start, 0)

    def item(node: span_tree.SpanNode) -> str:
        inner = _span_row(node.span, start, total)
        if full:
            inner += _details(node.span)
        if node.children:
            inner += "<ul>" + "".join(item(child) for child in node.children) + "</ul>"
        return f"<li>{inner}</li>"

    trees = span_tree.build_trees(record.spans)
    return '<ul class="tree">' + "".join(item(tree) for tree in trees) + "</ul>"


def _trace_heading(record: TraceRecord, *, link: bool) -> str:
    root = _root(record)
    name = html.escape(root.name if root is not None else "(no span)")
    if link:
        name = f'<a href="{PATH}/{record.trace_id_hex}">{name}</a>'
    status = "ERROR" if record.failed else "OK"
    duration = span_tree.format_duration(max(record.end_time - record.start_time, 0))
    spans = f"{len(record.spans)} span" + ("" if len(record.spans) == 1 else "s")
    if record.spans_dropped:
        spans += f" (+{record.spans_dropped} not kept)"
    started = (_time(record.start_time) or "").replace("T", " ")[:23]
    return (
        f'<h3>{name} <span class="status {status}">{status}</span> '
        f'<span class="meta">{duration} · {spans} · {html.escape(started)} UTC · trace '
        f"<code>{record.trace_id_hex}</code></span></h3>"
    )


def _trace_section(record: TraceRecord, *, full: bool) -> str:
    failed = " failed" if record.failed else ""
    return (
        f'<section class="trace{failed}" id="trace-{record.trace_id_hex}">'
        f"{_trace_heading(record, link=not full)}{_tree_html(record, full=full)}</section>"
    )


def _limits(recent: RecentTraces) -> str:
    kept, failed = recent.counts()
    return (
        f"{kept} trace{'' if kept == 1 else 's'} kept, {failed} failed; it keeps the last "
        f"{recent.max_traces} traces, the last {recent.max_failed} failed ones and "
        f"{recent.max_spans} spans per trace"
    )


def _list_page(recent: RecentTraces, records: Sequence[TraceRecord]) -> str:
    failed = [record for record in records if record.failed]
    others = [record for record in records if not record.failed]
    service = next((name for name in map(_service, records) if name), None)
    title = "Recent traces" + (f" of {service}" if service else "")
    if not records:
        body = (
            '<p class="notice">No trace has ended yet. Spans show here as soon as they end; '
            "a trace shows as one tree.</p>"
        )
        return _page(title, body, html.escape(_limits(recent)))
    body = ""
    if failed:
        body += f"<h2>Failed ({len(failed)})</h2>" + "".join(
            _trace_section(record, full=False) for record in failed
        )
    if others:
        body += f"<h2>Recent ({len(others)})</h2>" + "".join(
            _trace_section(record, full=False) for record in others
        )
    return _page(title, body, html.escape(_limits(recent)))


def _trace_page(recent: RecentTraces, record: TraceRecord) -> str:
    root = _root(record)
    title = f"Trace {record.trace_id_hex}"
    subtitle = html.escape(
        " · ".join(
            part for part in (_service(record), root.name if root is not None else None) if part
        )
    )
    return _page(title, _trace_section(record, full=True), subtitle)
