"""Per-signal OTLP settings, mTLS, the first failure's diagnosis and a quiet gRPC core, against
real receivers on 127.0.0.1."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace

from pywats_otel import init_telemetry
from pywats_otel.testing.otlp import OTLPReceiver, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_each_signal_goes_where_its_own_settings_say() -> None:
    """Traces over HTTP to their own endpoint (used as is), metrics and logs over gRPC to the
    general one: each receiver gets only its signals."""
    import logging

    with OTLPReceiver("http/protobuf") as http, OTLPReceiver("grpc") as grpc:
        telemetry = init_telemetry(
            service_name="station-7",
            otlp_endpoint=grpc.endpoint,
            otlp_traces_endpoint=f"{http.endpoint}/v1/traces",
            otlp_traces_protocol="http/protobuf",
            metrics_exporter="otlp",
            logs_exporter="otlp",
            instrumentations="none",
        )
        with trace.get_tracer("station").start_as_current_span("upload"):
            logging.getLogger("station").warning("uploaded")
        metrics.get_meter("station").create_counter("station.uploads").add(1)
        assert telemetry.force_flush(timeout_s=10)
        status = telemetry.status()
        http_spans, grpc_spans = http.spans, grpc.spans
        grpc_metrics, http_metrics = grpc.metrics, http.metrics
        grpc_logs = grpc.logs
    assert [span.name for span in http_spans] == ["upload"]
    assert grpc_spans == []
    assert http_metrics == []
    assert "station.uploads" in {metric.name for metric in grpc_metrics}
    assert [log.body for log in grpc_logs] == ["uploaded"]
    [traces] = status["traces"]
    assert traces["destination"] == f"otlp http/protobuf {http.endpoint}/v1/traces"
    assert [e["destination"] for e in status["logs"]] == [f"otlp grpc {grpc.endpoint}"]


def test_the_first_failure_carries_the_diagnosis(caplog: pytest.LogCaptureFixture) -> None:
    """http/protobuf against a gRPC port: status() and the warning say it is a gRPC port, with
    no control bytes of the HTTP/2 frame that the HTTP client read as a status line."""
    import logging

    caplog.set_level(logging.WARNING, logger="pywats_otel.export")
    with OTLPReceiver("grpc") as grpc:
        telemetry = init_telemetry(
            otlp_endpoint=grpc.endpoint,
            otlp_protocol="http/protobuf",
            otlp_timeout=2000,
            traces_exporter="otlp",
            metrics_exporter="none",
            logs_exporter="none",
            instrumentations="none",
        )
        with trace.get_tracer("station").start_as_current_span("lost"):
            pass
        telemetry.force_flush(timeout_s=10)
        [traces] = telemetry.status()["traces"]
    error = traces["last_error"]
    assert re.search(
        rf"; diagnosis: 127\.0\.0\.1:{grpc.port} answers in HTTP/2 frames, not HTTP/1\.1: it "
        r"looks like an OTLP/gRPC port \(4317\); use otlp_protocol=grpc, or the HTTP port "
        r"\(4318\)$",
        error,
    ), error
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", error)
    [warning] = [r.getMessage() for r in caplog.records if "traces export to" in r.getMessage()]
    assert "answers in HTTP/2 frames" in warning


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    clean.pop("GRPC_VERBOSITY", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


_TLS_TO_PLAINTEXT = """
import os, sys
from opentelemetry import trace
from pywats_otel import init_telemetry
t = init_telemetry(otlp_endpoint=sys.argv[1], otlp_timeout=1500, traces_exporter="otlp",
                   metrics_exporter="none", logs_exporter="none", instrumentations="none")
with trace.get_tracer("x").start_as_current_span("s"):
    pass
t.force_flush(timeout_s=5)
print(t.status()["traces"][0]["failed"], os.environ.get("GRPC_VERBOSITY"))
"""


def test_grpc_core_stays_quiet_unless_the_user_asks() -> None:
    """TLS to a plaintext gRPC collector: no 'Handshake failed' line from gRPC's C core on
    stderr, and the program's environment is as it was; with GRPC_VERBOSITY set by the user,
    gRPC logs as told."""
    with OTLPReceiver("grpc") as grpc:
        endpoint = f"https://127.0.0.1:{grpc.port}"
        quiet = _run(_TLS_TO_PLAINTEXT + "", PYTHONPATH=str(ROOT))
        quiet = _run(_TLS_TO_PLAINTEXT.replace("sys.argv[1]", repr(endpoint)))
        loud = _run(_TLS_TO_PLAINTEXT.replace("sys.argv[1]", repr(endpoint)), GRPC_VERBOSITY="INFO")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == ["1", "None"]
    assert "Handshake failed" not in quiet.stderr
    assert loud.returncode == 0, loud.stderr
    assert "Handshake failed" in loud.stderr


# -- mTLS ---------------------------------------------------------------------------------


class _MutualTLSServer:
    """An HTTPS server on 127.0.0.1 that requires a client certificate signed by ``client_ca``
    and records the common name of each client and the path it posted to."""

    def __init__(self, cert: Path, key: Path, client_ca: Path) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                peer = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
                subject = dict(item[0] for item in peer.get("subject", ()))
                seen.append((subject.get("commonName", ""), self.path))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def mtls(make_cert: Callable[..., tuple[Path, Path]]) -> Iterator[dict[str, Any]]:
    server_cert, server_key = make_cert("server", "127.0.0.1")
    client_cert, client_key = make_cert("client", "station-7")
    server = _MutualTLSServer(server_cert, server_key, client_ca=client_cert)
    yield {
        "server": server,
        "server_cert": server_cert,
        "client_cert": client_cert,
        "client_key": client_key,
    }
    server.stop()


def test_http_export_presents_the_client_certificate(mtls: dict[str, Any]) -> None:
    """otlp_client_certificate and otlp_client_key: the collector that requires a client
    certificate accepts the export and sees the station's certificate."""
    server = mtls["server"]
    telemetry = init_telemetry(
        otlp_endpoint=f"https://127.0.0.1:{server.port}",
        otlp_protocol="http/protobuf",
        otlp_certificate=str(mtls["server_cert"]),
        otlp_client_certificate=str(mtls["client_cert"]),
        otlp_client_key=str(mtls["client_key"]),
        traces_exporter="otlp",
        metrics_exporter="none",
        logs_exporter="none",
        instrumentations="none",
    )
    with trace.get_tracer("station").start_as_current_span("upload"):
        pass
    assert telemetry.force_flush(timeout_s=10)
    [traces] = telemetry.status()["traces"]
    assert (traces["exported"], traces["failed"]) == (1, 0)
    assert server.seen == [("station-7", "/v1/traces")]


def test_grpc_export_presents_the_client_certificate(mtls: dict[str, Any]) -> None:
    """The same over gRPC: a grpcio server requiring client auth sees the station's CN."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    peers: list[str] = []

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            names = context.auth_context().get("x509_common_name", [b""])
            peers.append(names[0].decode())
            return trace_service_pb2.ExportTraceServiceResponse()

    server_cert, client_cert = mtls["server_cert"], mtls["client_cert"]
    server_key = server_cert.with_suffix(".key")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)  # type: ignore[no-untyped-call]
    port = free_port()
    credentials = grpc.ssl_server_credentials(
        [(server_key.read_bytes(), server_cert.read_bytes())],
        root_certificates=client_cert.read_bytes(),
        require_client_auth=True,
    )
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    server.start()
    try:
        telemetry = init_telemetry(
            otlp_endpoint=f"https://127.0.0.1:{port}",
            otlp_certificate=str(server_cert),
            otlp_client_certificate=str(client_cert),
            otlp_client_key=str(mtls["client_key"]),
            traces_exporter="otlp",
            metrics_exporter="none",
            logs_exporter="none",
            instrumentations="none",
        )
        with trace.get_tracer("station").start_as_current_span("upload"):
            pass
        assert telemetry.force_flush(timeout_s=10)
        [traces] = telemetry.status()["traces"]
    finally:
        server.stop(None)
    assert (traces["exported"], traces["failed"]) == (1, 0)
    assert peers == ["station-7"]
