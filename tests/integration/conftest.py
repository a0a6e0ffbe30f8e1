"""Real peers on 127.0.0.1: a Prometheus server started per test, OTLP receivers.

Without the ``prometheus`` binary the Prometheus tests skip, unless PYWATS_TEST_REQUIRE_PROMETHEUS=1
(set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pywats_otel.testing.otlp import free_port

REQUIRE_PROMETHEUS = os.environ.get("PYWATS_TEST_REQUIRE_PROMETHEUS") == "1"
#: CI's switch for every peer it installs (pywats-api and PySide6 too): missing means failing.
REQUIRE_PEERS = REQUIRE_PROMETHEUS or os.environ.get("PYWATS_TEST_REQUIRE_PEERS") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install -y prometheus)"
        if REQUIRE_PROMETHEUS:
            pytest.fail(f"{message}; PYWATS_TEST_REQUIRE_PROMETHEUS=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def pywats_api() -> None:
    """The real pywats-api with its client (and PySide6, which pywats_client imports)."""
    import importlib.util

    missing = [n for n in ("pywats", "pywats_client", "PySide6") if not importlib.util.find_spec(n)]
    if missing:
        message = (
            f"{', '.join(missing)} not installed "
            '(pip install "pywats-api[client-headless]==0.6.0rc1" PySide6-Essentials)'
        )
        if REQUIRE_PEERS:
            pytest.fail(f"{message}; CI (PYWATS_TEST_REQUIRE_PEERS=1) requires it")
        pytest.skip(message)


@pytest.fixture
def fake_wats() -> Iterator[Any]:
    """A fake WATS server on 127.0.0.1 that takes what pywats-api posts."""
    from pywats_otel.testing.wats import FakeWATS

    with FakeWATS() as server:
        yield server


def load_browser_module() -> Any:
    """scripts/browser.py, the headless Chromium helper the screenshots script uses too."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "scripts" / "browser.py"
    spec = importlib.util.spec_from_file_location("pywats_otel_scripts_browser", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's chromium and chromium-driver); missing, it skips, or
    fails when CI requires its peers (PYWATS_TEST_REQUIRE_PROMETHEUS=1)."""
    module = load_browser_module()
    if module.find() is None:
        message = (
            "chromium and chromedriver are not installed "
            "(apt-get install -y chromium chromium-driver)"
        )
        if REQUIRE_PROMETHEUS:
            pytest.fail(f"{message}; CI (PYWATS_TEST_REQUIRE_PROMETHEUS=1) requires them")
        pytest.skip(message)
    with module.Browser(width=1280, height=900) as opened:
        yield opened


@pytest.fixture
def promtool() -> str:
    return _binary("promtool")


class PrometheusServer:
    """A real Prometheus on 127.0.0.1 that scrapes ``targets`` every second."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        targets: list[str],
        *,
        exemplars: bool = False,
        **scrape: Any,
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "scrape_configs": [
                {"job_name": "station", "static_configs": [{"targets": targets}], **scrape}
            ],
        }
        flags = []
        if exemplars:
            # As deploy/ runs it: the exemplar storage is a feature flag in Prometheus 2 and 3.
            config["storage"] = {"exemplars": {"max_exemplars": 10000}}
            flags.append("--enable-feature=exemplar-storage")
        # JSON is YAML, so no YAML library is needed to write the config.
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(json.dumps(config))
        self.log_path = workdir / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *flags,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout_s}s: {self.log_path.read_text()}")

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=promql)["result"])

    def wait_for_query(self, promql: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns series; fail with the targets' state if not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.5)
        targets = self.api("targets")
        pytest.fail(f"no result for {promql} after {timeout_s}s; targets: {targets}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[Any]:
    """A factory: prometheus_server(["127.0.0.1:PORT"], exemplars=False, **scrape_config) ->
    PrometheusServer; ``exemplars=True`` turns the exemplar storage on."""
    binary = _binary("prometheus")
    started: list[PrometheusServer] = []

    def start(targets: list[str], **options: Any) -> PrometheusServer:
        server = PrometheusServer(binary, tmp_path, targets, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class RecordingHTTPServer:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 that records each request and answers with
    the next status planned for its path (200 when none is planned), after the delay set for
    the path (none by default)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        self.plan: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                planned = recorder.plan.get(path)
                status = planned.pop(0) if planned else 200
                if path in recorder.delay:
                    time.sleep(recorder.delay[path])
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "status": status,
                    }
                )
                answer = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        import threading

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def header(self, index: int, name: str) -> str | None:
        """Header ``name`` of request ``index``, whatever its case on the wire."""
        headers = {key.lower(): value for key, value in self.requests[index]["headers"].items()}
        return headers.get(name.lower())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def http_server() -> Iterator[RecordingHTTPServer]:
    """A RecordingHTTPServer on a free port of 127.0.0.1."""
    server = RecordingHTTPServer()
    yield server
    server.stop()
