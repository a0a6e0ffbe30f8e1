"""The pictures of the docs, made by running the demo: ``nox -s screenshots`` (or
``python scripts/screenshots.py [--out docs/images] [--seconds 60]``).

- ``traces.png``: ``/traces`` of the demo station in headless Chromium, with failed reports;
- ``prometheus.png``: the real Prometheus web UI (Debian's prometheus, 2.42) graphing the demo's
  queue depth and its upload latency (p95), scraped every 2 s, with exemplars;
- ``tree.png``: a sample of the ``tree`` trace exporter's output, in colour, as a terminal
  shows it.

Everything runs on 127.0.0.1 and stops at the end. Needs chromium, chromium-driver and
prometheus (apt-get install -y chromium chromium-driver prometheus).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from browser import Browser  # noqa: E402

QUEUE_DEPTH = 'pywats_queue_depth{pywats_queue_state="pending"}'
UPLOAD_P95 = (
    "histogram_quantile(0.95, sum by (le) (rate(http_client_request_duration_seconds_bucket[20s])))"
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYWATS_OTEL_"))}
    env.update(PYWATS_OTEL_PROMETHEUS_HOST="127.0.0.1", **extra)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_lines(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def start_demo(seconds: float) -> tuple[subprocess.Popen[str], str, list[str]]:
    """The demo with --hold; its endpoint's URL once it serves."""
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pywats_otel",
            "demo",
            "--duration",
            str(seconds),
            "--rate",
            "4",
            "--failure-rate",
            "0.25",
            "--seed",
            "7",
            "--prometheus-port",
            "0",
            "--service-name",
            "station-7",
            "--hold",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(PYWATS_OTEL_RECENT_TRACES="5", PYWATS_OTEL_RECENT_FAILED_TRACES="3"),
        cwd=ROOT,
    )
    assert demo.stderr is not None
    assert demo.stdout is not None
    errors: list[str] = []
    threading.Thread(target=_read_lines, args=(demo.stderr, errors), daemon=True).start()
    output: list[str] = []
    threading.Thread(target=_read_lines, args=(demo.stdout, output), daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in errors:
            found = re.search(r"serving .* on (http://127\.0\.0\.1:\d+) while it runs", line)
            if found:
                return demo, found.group(1), output
        time.sleep(0.1)
    demo.kill()
    raise RuntimeError("the demo did not say where it serves:\n" + "".join(errors))


def start_prometheus(target: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed (apt-get install -y prometheus)")
    port = _free_port()
    config = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s"},
        "storage": {"exemplars": {"max_exemplars": 10000}},
        "scrape_configs": [
            {"job_name": "pywats-stations", "static_configs": [{"targets": [target]}]}
        ],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("prometheus did not become ready")


def prometheus_graph_url(base: str) -> str:
    params = {}
    for index, expr in enumerate((QUEUE_DEPTH, UPLOAD_P95)):
        params.update(
            {
                f"g{index}.expr": expr,
                f"g{index}.tab": "0",
                f"g{index}.stacked": "0",
                f"g{index}.show_exemplars": "1",
                f"g{index}.range_input": "1m",
            }
        )
    return f"{base}/graph?{urllib.parse.urlencode(params)}"


_ANSI = re.compile(r"\x1b\[(\d+)m")
_STYLE = {
    "31": "color:#ff6b6b",
    "32": "color:#69db7c",
    "2": "color:#8b93a1",
    "1": "font-weight:700",
}


def ansi_to_html(text: str) -> str:
    """Terminal text with colour codes as HTML spans (the few codes the tree exporter uses)."""
    out: list[str] = []
    open_spans = 0
    position = 0
    for match in _ANSI.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        code = match.group(1)
        if code == "0":
            out.append("</span>" * open_spans)
            open_spans = 0
        elif code in _STYLE:
            out.append(f'<span style="{_STYLE[code]}">')
            open_spans += 1
        position = match.end()
    out.append(html.escape(text[position:]))
    out.append("</span>" * open_spans)
    return "".join(out)


def tree_sample() -> str:
    """The tree exporter's output of a short demo run: a few traces, one of them failed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pywats_otel",
            "demo",
            "--duration",
            "3",
            "--rate",
            "3",
            "--failure-rate",
            "0.6",
            "--seed",
            "3",
            "--prometheus-port",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(OTEL_TRACES_EXPORTER="tree", FORCE_COLOR="1"),
        cwd=ROOT,
        check=True,
    )
    blocks = re.split(r"(?m)^(?=\x1b\[1mtrace )", done.stdout)
    trees = [block for block in blocks if block.startswith("\x1b[1mtrace ")]
    failed = [block for block in trees if "\x1b[31mERROR" in block]
    good = [block for block in trees if "\x1b[31mERROR" not in block]
    chosen = (good[:2] + failed[:2]) or trees[:4]
    return "".join(chosen)


def _terminal_page(sample: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
        "body{margin:0;background:#1e2430}pre{margin:0;padding:16px 20px;color:#e6e9ef;"
        "font:13px/1.5 'DejaVu Sans Mono',ui-monospace,monospace;white-space:pre}"
        f"</style></head><body><pre>$ OTEL_TRACES_EXPORTER=tree pywats-otel demo\n"
        f"{ansi_to_html(sample)}</pre></body></html>"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python scripts/screenshots.py", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--seconds", type=float, default=60.0, help="demo run time (60)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="pywats-otel-screenshots-") as scratch:
        folder = Path(scratch)
        sample = tree_sample()
        (folder / "tree.html").write_text(_terminal_page(sample), encoding="utf-8")
        demo, station, _ = start_demo(args.seconds)
        prometheus, prometheus_url = start_prometheus(station.removeprefix("http://"), folder)
        try:
            time.sleep(args.seconds)
            with Browser(width=1280, height=900) as browser:
                browser.open(f"{station}/traces")
                browser.screenshot(args.out / "traces.png", full_page=True)
                print(f"wrote {args.out / 'traces.png'}")

                browser.resize(1280, 1720)
                browser.open(prometheus_graph_url(prometheus_url))
                # Each graph says how many series it drew once its query has answered.
                browser.wait_for(
                    "document.body.innerText.split('Total time series: 1').length >= 3", 60
                )
                time.sleep(2)  # the charts draw after their data arrives
                browser.screenshot(args.out / "prometheus.png")
                print(f"wrote {args.out / 'prometheus.png'}")

                browser.resize(1600, 400)
                browser.open((folder / "tree.html").as_uri())
                browser.screenshot(args.out / "tree.png", full_page=True)
                print(f"wrote {args.out / 'tree.png'}")
        finally:
            prometheus.terminate()
            prometheus.wait(20)
            if demo.stdin is not None:
                demo.stdin.close()
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
