"""/traces on the real endpoint (127.0.0.1): the same basic auth and TLS as /metrics, listed in
the 404 body and /health's links, off with recent_traces=0, and the spans of real work (a
converter failure, an httpx upload) shown with their parents."""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace

from pywats_otel import converter, init_telemetry

USER, PASSWORD = "viewer", "s3cret-traces-password"


def fetch(
    url: str,
    accept: str = "text/html",
    auth: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, str, bytes]:
    import base64

    headers = {"Accept": accept}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_traces_needs_the_endpoint_credentials_and_tls(self_signed_cert: tuple[Path, Path]) -> None:
    cert, key = self_signed_cert
    telemetry = init_telemetry(
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        endpoint_username=USER,
        endpoint_password=PASSWORD,
        endpoint_tls_cert=str(cert),
        endpoint_tls_key=str(key),
        instrumentations="none",
    )
    with trace.get_tracer("station").start_as_current_span("upload report") as span:
        pass
    trusting = ssl.create_default_context(cafile=str(cert))
    url = telemetry.traces_url
    assert url is not None
    assert url.startswith("https://127.0.0.1:")
    trace_id = f"{span.get_span_context().trace_id:032x}"
    for path in ("", f"/{trace_id}"):
        for auth in (None, (USER, "wrong")):
            status, _, body = fetch(url + path, auth=auth, context=trusting)
            assert (status, json.loads(body)) == (401, {"error": "unauthorized"})
    status, content_type, body = fetch(
        url, "application/json", auth=(USER, PASSWORD), context=trusting
    )
    assert (status, content_type) == (200, "application/json")
    [kept] = json.loads(body)["traces"]
    assert (kept["trace_id"], kept["root"]) == (trace_id, "upload report")
    assert PASSWORD.encode() not in body


def test_traces_is_listed_in_the_404_body_and_in_health_links() -> None:
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    base = telemetry.endpoint.url
    status, _, body = fetch(base + "/nope", "application/json")
    assert status == 404
    assert json.loads(body)["paths"] == [
        "/metrics",
        "/traces",
        "/health",
        "/health/live",
        "/health/ready",
    ]
    _, _, body = fetch(base + "/health", "application/json")
    assert json.loads(body)["links"] == {
        "metrics": "/metrics",
        "traces": "/traces",
        "live": "/health/live",
        "ready": "/health/ready",
    }
    assert telemetry.status()["endpoint"]["traces_url"] == base + "/traces"


def test_recent_traces_0_turns_the_page_off() -> None:
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0, recent_traces=0)
    base = telemetry.endpoint.url
    status, _, body = fetch(base + "/traces", "application/json")
    assert status == 404
    assert "/traces" not in json.loads(body)["paths"]
    _, _, body = fetch(base + "/health", "application/json")
    assert "traces" not in json.loads(body)["links"]
    assert telemetry.recent_traces is None
    assert telemetry.traces_url is None


def test_a_failed_conversion_and_an_upload_show_as_trees(tmp_path: Path, http_server: Any) -> None:
    """Real pywats_otel spans: the converter's failure first with its error; the upload's POST
    under its parent with the redacted URL and status code."""
    telemetry = init_telemetry(prometheus_host="127.0.0.1", prometheus_port=0)
    tester_file = tmp_path / "ict-0001.csv"
    tester_file.write_text("step,value\n")

    @converter.traced_converter("ict-csv")
    def convert(path: Path) -> dict[str, Any]:
        raise ValueError("row 2: no value")

    with contextlib.suppress(ValueError):
        convert(tester_file)
    http_server.plan["/api/reports"] = [503]
    with trace.get_tracer("station").start_as_current_span("upload report"):
        httpx.post(f"{http_server.url}/api/reports?token=abc", json={}, timeout=5)
    _, _, body = fetch(telemetry.traces_url, "application/json")
    traces = json.loads(body)["traces"]
    assert [(t["root"], t["failed"]) for t in traces] == [
        ("upload report", True),
        ("convert ict-csv", True),
    ]
    upload, conversion = traces
    assert [(s["name"], s["depth"], s["status"]) for s in upload["spans"]] == [
        ("upload report", 0, "UNSET"),
        ("POST", 1, "ERROR"),
    ]
    post = upload["spans"][1]
    assert post["parent_span_id"] == upload["spans"][0]["span_id"]
    assert post["attributes"]["http.response.status_code"] == 503
    assert post["attributes"]["url.full"] == f"{http_server.url}/api/reports?token=REDACTED"
    [convert_span] = conversion["spans"]
    assert convert_span["error"] == "ValueError: row 2: no value"
    assert convert_span["attributes"]["pywats.converter.status"] == "failed"
    _, _, page = fetch(telemetry.traces_url)
    text = page.decode()
    assert text.index("upload report") < text.index("convert ict-csv")
    assert "token=abc" not in text
