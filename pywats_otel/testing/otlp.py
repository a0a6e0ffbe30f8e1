"""Real OTLP receivers on loopback, for integration tests and benchmarks.

``OTLPReceiver(protocol="grpc")`` is a grpcio server with the three OTLP collector services;
``OTLPReceiver(protocol="http/protobuf")`` is a stdlib HTTP server answering POST /v1/traces,
/v1/metrics and /v1/logs. Both decode with ``opentelemetry-proto`` and keep what they received.
``BlackHole`` accepts connections and never answers: a collector that hangs.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["BlackHole", "OTLPReceiver", "ReceivedLog", "ReceivedMetric", "ReceivedSpan"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(values: Any) -> dict[str, Any]:
    """A list of OTLP KeyValue as a dict."""
    result: dict[str, Any] = {}
    item: KeyValue
    for item in values:
        result[item.key] = any_value(item.value)
    return result


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: int


@dataclass(frozen=True)
class ReceivedMetric:
    name: str
    unit: str
    kind: str
    points: list[tuple[dict[str, Any], Any]]
    resource: dict[str, Any]


@dataclass(frozen=True)
class ReceivedLog:
    body: Any
    severity_text: str
    severity_number: int
    trace_id: str
    span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


class _Store:
    def __init__(self) -> None:
        # Re-entrant: wait_for() holds it while the predicate reads the lists.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.spans: list[ReceivedSpan] = []
        self.metrics: list[ReceivedMetric] = []
        self.logs: list[ReceivedLog] = []
        self.headers: list[dict[str, str]] = []
        self.requests = 0
        #: Answers planned for the next requests, any signal: a gRPC status code name
        #: (``PERMISSION_DENIED``) or an HTTP status (``400``); popped one per request.
        self.planned: list[str | int] = []

    def next_failure(self) -> str | int | None:
        with self.lock:
            return self.planned.pop(0) if self.planned else None

    def add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        found = [
            ReceivedSpan(
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                kind=span.kind,
                attributes=attributes(span.attributes),
                resource=attributes(resource_spans.resource.attributes),
                scope=scope_spans.scope.name,
                status_code=span.status.code,
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self.changed:
            self.spans.extend(found)
            self.changed.notify_all()

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        found: list[ReceivedMetric] = []
        for resource_metrics in request.resource_metrics:
            resource = attributes(resource_metrics.resource.attributes)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data") or ""
                    data = getattr(metric, kind)
                    points: list[tuple[dict[str, Any], Any]] = []
                    for point in data.data_points:
                        if kind == "histogram":
                            value: Any = (point.count, point.sum)
                        else:
                            value = getattr(point, point.WhichOneof("value"))
                        points.append((attributes(point.attributes), value))
                    found.append(ReceivedMetric(metric.name, metric.unit, kind, points, resource))
        with self.changed:
            self.metrics.extend(found)
            self.changed.notify_all()

    def add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        found = [
            ReceivedLog(
                body=any_value(record.body),
                severity_text=record.severity_text,
                severity_number=record.severity_number,
                trace_id=record.trace_id.hex(),
                span_id=record.span_id.hex(),
                attributes=attributes(record.attributes),
                resource=attributes(resource_logs.resource.attributes),
                scope=scope_logs.scope.name,
            )
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]
        with self.changed:
            self.logs.extend(found)
            self.changed.notify_all()


class OTLPReceiver:
    """An OTLP receiver on 127.0.0.1 that keeps what it receives. Use as a context manager."""

    def __init__(self, protocol: str = "grpc", port: int | None = None) -> None:
        if protocol not in ("grpc", "http/protobuf"):
            raise ValueError(f"protocol must be grpc or http/protobuf, not {protocol!r}")
        self.protocol = protocol
        self.port = port or free_port()
        self._store = _Store()
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        # Kept-alive HTTP connections outlive the listening socket; once stopped, their
        # requests are dropped unanswered, as a collector that went away would.
        self._stopped = threading.Event()

    # -- life cycle

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OTLPReceiver:
        self._stopped.clear()
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what arrived

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._store.lock:
            return list(self._store.spans)

    @property
    def metrics(self) -> list[ReceivedMetric]:
        with self._store.lock:
            return list(self._store.metrics)

    @property
    def logs(self) -> list[ReceivedLog]:
        with self._store.lock:
            return list(self._store.logs)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers (gRPC metadata) of each request, lower-case names."""
        with self._store.lock:
            return list(self._store.headers)

    @property
    def requests(self) -> int:
        with self._store.lock:
            return self._store.requests

    def wait_for(self, predicate: Callable[[OTLPReceiver], bool], timeout_s: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds; False when ``timeout_s`` passed first."""
        with self._store.changed:
            return self._store.changed.wait_for(lambda: predicate(self), timeout=timeout_s)

    def fail_next(self, *answers: str | int) -> None:
        """Answer the next requests (one each, any signal) with these failures instead: gRPC
        status code names (``"PERMISSION_DENIED"``) or HTTP statuses (``400``)."""
        with self._store.lock:
            self._store.planned.extend(answers)

    def clear(self) -> None:
        with self._store.lock:
            self._store.spans.clear()
            self._store.metrics.clear()
            self._store.logs.clear()
            self._store.headers.clear()

    # -- gRPC

    def _start_grpc(self) -> None:
        store = self._store

        def note(context: grpc.ServicerContext) -> None:
            with store.lock:
                store.requests += 1
                store.headers.append(dict(context.invocation_metadata()))
            planned = store.next_failure()
            if planned is not None:
                code = getattr(grpc.StatusCode, str(planned))
                context.abort(code, f"the receiver answers {code.name} as planned")

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                note(context)
                store.add_traces(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                note(context)
                store.add_metrics(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                note(context)
                store.add_logs(request)
                return logs_service_pb2.ExportLogsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)  # type: ignore[no-untyped-call]
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)  # type: ignore[no-untyped-call]
        bound = server.add_insecure_port(f"127.0.0.1:{self.port}")
        if bound != self.port:
            server.stop(None)
            raise OSError(f"cannot listen on 127.0.0.1:{self.port}")
        server.start()
        self._grpc = server

    # -- HTTP

    def _start_http(self) -> None:
        store = self._store
        stopped = self._stopped
        routes: dict[str, tuple[Any, Callable[[Any], None], Any]] = {
            "/v1/traces": (
                trace_service_pb2.ExportTraceServiceRequest,
                store.add_traces,
                trace_service_pb2.ExportTraceServiceResponse,
            ),
            "/v1/metrics": (
                metrics_service_pb2.ExportMetricsServiceRequest,
                store.add_metrics,
                metrics_service_pb2.ExportMetricsServiceResponse,
            ),
            "/v1/logs": (
                logs_service_pb2.ExportLogsServiceRequest,
                store.add_logs,
                logs_service_pb2.ExportLogsServiceResponse,
            ),
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                if stopped.is_set():
                    self.close_connection = True
                    return
                route = routes.get(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if route is None:
                    self._reply(404, b"")
                    return
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request_type, add, response_type = route
                request = request_type()
                request.ParseFromString(body)
                with store.lock:
                    store.requests += 1
                    store.headers.append({k.lower(): v for k, v in self.headers.items()})
                planned = store.next_failure()
                if planned is not None:
                    self._reply(int(planned), f"answered {planned} as planned".encode())
                    return
                add(request)
                self._reply(200, response_type().SerializeToString())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._http = server
        self._http_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._http_thread.start()


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.port = int(self._socket.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with self._lock:
                closed = self._closed
                if not closed:
                    self._held.append(conn)
            if closed:  # accepted while close() ran: nobody else would close it
                conn.close()
                return
            self.accepted.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        # shutdown() wakes the accept() blocked in the other thread; close() alone may not.
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
