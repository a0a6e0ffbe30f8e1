"""`pywats-otel demo` runs a station end to end; its summary agrees with a scrape of /metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO, Any

from prometheus_client.parser import text_string_to_metric_families


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    return {**clean, "PYWATS_OTEL_PROMETHEUS_HOST": "127.0.0.1", **extra}


def _readline(stream: IO[str], timeout_s: float) -> str:
    """One line of a child's output, or "" when none comes within ``timeout_s``."""
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0] if found else ""


def _samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _total(samples: dict[str, Any], name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(key) == wanted for key, wanted in labels.items())
    )


def test_demo_summary_matches_the_metrics_it_served() -> None:
    """Every count of the JSON summary equals the matching series at /metrics, and /health
    lists the station's checks."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pywats_otel",
            "demo",
            "--duration",
            "3",
            "--rate",
            "20",
            "--failure-rate",
            "0.4",
            "--seed",
            "11",
            "--prometheus-port",
            "0",
            "--json",
            "--hold",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = _readline(process.stdout, 60)
        assert line, process.stderr.read() if process.stderr else ""
        summary = json.loads(line)
        samples = _samples(summary["metrics_url"])
        with urllib.request.urlopen(summary["health_url"], timeout=5) as response:
            health = json.load(response)
    finally:
        process.stdin.close()
        process.wait(30)
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == 0

    assert summary["files"] >= 40
    assert summary["conversion_failed"] > 0
    assert summary["upload_retries"] > 0
    assert (
        summary["converted"] + summary["conversion_failed"] + summary["rejected"]
        == summary["files"]
    )
    executions = "pywats_converter_executions_total"
    assert _total(samples, executions, pywats_converter_status="success") == summary["converted"]
    assert (
        _total(samples, executions, pywats_converter_status="failed")
        == summary["conversion_failed"]
    )
    assert _total(samples, executions, pywats_converter_status="rejected") == summary["rejected"]
    assert _total(samples, "pywats_queue_enqueued_total") == summary["queued"]
    processed = "pywats_queue_processed_total"
    assert _total(samples, processed, pywats_queue_outcome="success") == summary["uploaded"]
    assert _total(samples, processed, pywats_queue_outcome="retry") == summary["upload_retries"]
    assert _total(samples, processed, pywats_queue_outcome="failed") == summary["upload_failed"]
    attempts = summary["uploaded"] + summary["upload_retries"] + summary["upload_failed"]
    posts = _total(
        samples, "http_client_request_duration_seconds_count", http_request_method="POST"
    )
    assert posts == attempts
    assert summary["server_received"] == summary["uploaded"]
    assert (
        _total(samples, "pywats_queue_depth", pywats_queue_state="pending")
        == summary["left_in_queue"]
    )
    assert re.fullmatch(r"[0-9a-f]{32}", summary["failed_trace_id"])
    assert summary["traces_url"] == summary["metrics_url"].replace("/metrics", "/traces")
    checks = set(health["checks"])
    assert {"report-queue", "inbox-backlog"} <= checks
    [url_check] = [check for name, check in health["checks"].items() if name.startswith("url:")]
    # After the summary, while --hold keeps the endpoint up, the fake WATS server still
    # answers: the demo stops it after telemetry, not before.
    assert url_check["status"] == "ok", url_check
    assert health["service"]["name"] == "pywats-demo-station"


def test_demo_text_summary_and_sigterm_stop() -> None:
    """Run until stopped (--duration 0), SIGTERM stops it cleanly with the human summary."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pywats_otel",
            "demo",
            "--duration",
            "0",
            "--rate",
            "10",
            "--failure-rate",
            "0.5",
            "--prometheus-port",
            "0",
            "--seed",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(PYWATS_OTEL_SHUTDOWN_TIMEOUT_S="3"),
    )
    time.sleep(3)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert process.returncode == 0, err
    # The uploads drain for at most a few seconds, then telemetry shuts down within 3 s.
    assert elapsed < 15
    assert re.search(r"^pywats-otel demo: [\d.]+ s, \d+ test files$", out, re.MULTILINE)
    assert re.search(r"^  converted \d+, conversion failed \d+, rejected \d+$", out, re.MULTILINE)
    assert re.search(r"^  metrics: http://127\.0\.0\.1:\d+/metrics   health: ", out, re.MULTILINE)
    assert re.search(r"   traces: http://127\.0\.0\.1:\d+/traces$", out, re.MULTILINE)
    assert re.search(r"serving /metrics, /traces and /health on http://127\.0\.0\.1:\d+", err)
    assert "traces -> none" in out
    assert "[trace_id=" in err
    # With no trace exporter the summary does not send anyone to Jaeger: it shows the tree.
    assert "Jaeger" not in out
    [trace_id] = re.findall(r"^  a failed report's trace ID: ([0-9a-f]{32})$", out, re.MULTILINE)
    tree = out.split("  its trace:\n", 1)[1].splitlines()
    assert re.match(r"    convert \S+  \d+\.\d+ m?s  ERROR  ", tree[0]), tree[0]
    assert "(in a browser: http://127.0.0.1:" in out
    assert out.count(f"/traces/{trace_id})") == 1


def test_demo_on_a_busy_port_says_which_option_to_use() -> None:
    """With the Prometheus port taken the demo still runs and names --prometheus-port."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pywats_otel",
                "demo",
                "--duration",
                "1",
                "--rate",
                "5",
                "--prometheus-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(),
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert f"port {port} is already in use" in result.stdout
    assert "--prometheus-port" in result.stdout
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
