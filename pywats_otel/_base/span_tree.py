"""Finished spans as trees: who is whose child, what to show of each span, redacted.

The ``/traces`` page, the ``tree`` trace exporter and the demo's summary show traces through
this module: :func:`build_trees` links spans to their parents (a span whose parent is not among
them is a root, like a queue item's ``process`` span whose ``send`` span was in another
process), :func:`span_attributes` gives a span's attributes as they may be shown (URLs through
:func:`~pywats_otel._base.redact.redact_url`, registered secrets scrubbed, control characters
gone) and :func:`render_text` writes the indented tree, one line per span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode

from pywats_otel import semconv
from pywats_otel._base.redact import printable, redact_url, scrub

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "KEY_ATTRIBUTES",
    "SpanNode",
    "build_trees",
    "duration_ns",
    "error_text",
    "format_duration",
    "key_attributes",
    "render_text",
    "span_attributes",
    "span_line",
    "status_name",
]

#: The attributes a one-line view of a span shows, in this order (then other pywats.* ones).
KEY_ATTRIBUTES: tuple[str, ...] = (
    semconv.CONVERTER_NAME,
    semconv.CONVERTER_STATUS,
    semconv.CONVERTER_FILE_NAME,
    semconv.CONVERTER_RECORDS,
    semconv.MESSAGING_DESTINATION_NAME,
    semconv.MESSAGING_MESSAGE_ID,
    semconv.QUEUE_ATTEMPT,
    semconv.QUEUE_OUTCOME,
    semconv.HTTP_REQUEST_METHOD,
    semconv.URL_FULL,
    semconv.HTTP_RESPONSE_STATUS_CODE,
    semconv.ERROR_TYPE,
)
_MAX_KEY_ATTRIBUTES = 8
#: Attributes whose value is a URL (or part of one), shown through redact_url().
_URL_KEYS = frozenset(
    {semconv.URL_FULL, semconv.HTTP_URL_OLD, "url.original", "http.target", "url.query"}
)
#: Long texts (stack traces) keep more than the usual cut of scrub().
_LONG_KEYS = frozenset({semconv.EXCEPTION_STACKTRACE})
_LONG_LIMIT = 4000
_SHORT_LIMIT = 500


@dataclass
class SpanNode:
    """A span and its children, oldest first."""

    span: ReadableSpan
    children: list[SpanNode] = field(default_factory=list)

    @property
    def depth_first(self) -> Iterable[tuple[int, SpanNode]]:
        """(depth, node) for this node and every descendant, parents before children."""
        stack: list[tuple[int, SpanNode]] = [(0, self)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, child) for child in reversed(node.children))


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


def build_trees(spans: Iterable[ReadableSpan]) -> list[SpanNode]:
    """The spans as trees, roots and children ordered by start time."""
    nodes: dict[int, SpanNode] = {}
    order: list[SpanNode] = []
    for span in spans:
        context = span.context
        if context is None:
            continue
        node = SpanNode(span)
        nodes[context.span_id] = node
        order.append(node)
    roots: list[SpanNode] = []
    for node in order:
        parent = node.span.parent
        owner = nodes.get(parent.span_id) if parent is not None else None
        if owner is None or owner is node:
            roots.append(node)
        else:
            owner.children.append(node)
    for node in order:
        node.children.sort(key=lambda child: _start(child.span))
    roots.sort(key=lambda root: _start(root.span))
    return roots


def _shown(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key in _URL_KEYS or value.startswith(("http://", "https://")):
            value = redact_url(value)
        return scrub(printable(value), _LONG_LIMIT if key in _LONG_KEYS else _SHORT_LIMIT)
    if isinstance(value, (list, tuple)):
        return [_shown(key, item) for item in value]
    return value


def span_attributes(attributes: Any) -> dict[str, Any]:
    """Attributes as they may be shown: URLs redacted, secrets scrubbed, text printable."""
    return {str(key): _shown(str(key), value) for key, value in dict(attributes or {}).items()}


#: pywats.* attributes that one line leaves out (the details of /traces/<id> show them).
_DETAIL_ONLY = (
    "pywats.correlation.",
    semconv.CONVERTER_FILE_EXTENSION,
    semconv.CONVERTER_FILE_SIZE,
    semconv.CONVERTER_FILE_PATH,
)


def key_attributes(span: ReadableSpan) -> list[tuple[str, Any]]:
    """The few attributes a one-line view shows (see KEY_ATTRIBUTES), redacted; error.type
    not when the line shows the error itself."""
    attributes = dict(span.attributes or {})
    keys = [key for key in KEY_ATTRIBUTES if key in attributes]
    if error_text(span) and semconv.ERROR_TYPE in keys:
        keys.remove(semconv.ERROR_TYPE)
    keys += sorted(
        key
        for key in attributes
        if key.startswith("pywats.")
        and key not in KEY_ATTRIBUTES
        and not key.startswith(_DETAIL_ONLY)
    )
    return [(key, _shown(key, attributes[key])) for key in keys[:_MAX_KEY_ATTRIBUTES]]


def status_name(span: ReadableSpan) -> str:
    """``OK``, ``ERROR`` or ``UNSET``."""
    return span.status.status_code.name


def error_text(span: ReadableSpan) -> str:
    """What went wrong in a failed span (its status description, else its exception), or ''."""
    if span.status.status_code is not StatusCode.ERROR:
        return ""
    if span.status.description:
        return scrub(printable(span.status.description))
    for event in span.events:
        if event.name == "exception":
            attributes = dict(event.attributes or {})
            kind = attributes.get(semconv.EXCEPTION_TYPE, "")
            message = attributes.get(semconv.EXCEPTION_MESSAGE, "")
            return scrub(printable(f"{kind}: {message}" if message else str(kind)))
    error_type = dict(span.attributes or {}).get(semconv.ERROR_TYPE)
    return scrub(printable(str(error_type))) if error_type else ""


def duration_ns(span: ReadableSpan) -> int:
    if span.start_time is None or span.end_time is None:
        return 0
    return max(span.end_time - span.start_time, 0)


def format_duration(nanoseconds: int) -> str:
    """``0.42 ms``, ``12.3 ms``, ``1.24 s``."""
    milliseconds = nanoseconds / 1e6
    if milliseconds < 10:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds / 1000:.2f} s"


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


_COLORS = {"ERROR": "\x1b[31m", "OK": "\x1b[32m", "dim": "\x1b[2m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_COLORS[style]}{text}{_RESET}" if color and text else text


def span_line(span: ReadableSpan, *, color: bool = False) -> str:
    """One span in one line: name, duration, status and error, key attributes."""
    status = status_name(span)
    parts = [span.name, format_duration(duration_ns(span))]
    if status != "UNSET":
        parts.append(_paint(status, status, color))
    error = error_text(span)
    if error:
        parts.append(_paint(error, "ERROR", color))
    attributes = " ".join(f"{key}={_value_text(value)}" for key, value in key_attributes(span))
    if attributes:
        parts.append(_paint(attributes, "dim", color))
    return "  ".join(parts)


def render_text(
    roots: Sequence[SpanNode], *, color: bool = False, header: str | None = None
) -> list[str]:
    """The trees as text, one line per span, children indented under their parent.

    ``header`` (e.g. ``trace 4bf9... station-7``) comes first; ``color`` adds ANSI colours
    (red errors, green OK, dim attributes).
    """
    lines = [_paint(header, "bold", color)] if header else []
    # (node, the prefix of its line, the prefix of its children's lines)
    stack: list[tuple[SpanNode, str, str]] = [(root, "", "") for root in reversed(roots)]
    while stack:
        node, prefix, inner = stack.pop()
        lines.append(prefix + span_line(node.span, color=color))
        children = node.children
        for index in range(len(children) - 1, -1, -1):
            last = index == len(children) - 1
            stack.append(
                (
                    children[index],
                    inner + ("└─ " if last else "├─ "),
                    inner + ("   " if last else "│  "),
                )
            )
    return lines
