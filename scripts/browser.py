"""A real browser for tests and screenshots: Debian's headless Chromium driven through
ChromeDriver's W3C WebDriver protocol, with the standard library only.

    with Browser() as browser:
        browser.open("http://127.0.0.1:9090/traces")
        text = browser.text()                 # what the page shows (innerText)
        browser.click("a[href^='/traces/']")
        png = browser.screenshot(full_page=True)

``find()`` says where chromium and chromedriver are (None when missing: apt-get install -y
chromium chromium-driver). Everything listens on 127.0.0.1; the browser starts with a new empty
profile and without background networking (this machine's network refuses it anyway).
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Browser", "find"]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def find() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is not installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        return None
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Browser:
    """One headless Chromium window (see the module)."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        found = find()
        if found is None:
            raise RuntimeError(
                "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver"
            )
        self.chromium, driver = found
        self._profile = tempfile.TemporaryDirectory(prefix="pywats-otel-chromium-")
        self._port = _free_port()
        self._driver = subprocess.Popen(
            [driver, f"--port={self._port}", "--allowed-ips=127.0.0.1", "--log-level=SEVERE"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._base = f"http://127.0.0.1:{self._port}"
        self._session: str | None = None
        try:
            self._wait_for_driver()
            options = {
                "binary": self.chromium,
                "args": [
                    *CHROMIUM_ARGS,
                    f"--user-data-dir={self._profile.name}",
                    f"--window-size={width},{height}",
                ],
            }
            answer = self._call(
                "POST",
                "/session",
                {
                    "capabilities": {
                        "alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}
                    }
                },
            )
            self._session = answer["sessionId"]
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    # -- WebDriver

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as error:
            payload = json.load(error)
            raise RuntimeError(f"WebDriver {method} {path}: {payload.get('value')}") from None
        return payload.get("value")

    def _wait_for_driver(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._driver.poll() is not None:
                raise RuntimeError("chromedriver exited at start")
            try:
                with urllib.request.urlopen(self._base + "/status", timeout=2) as response:
                    if json.load(response)["value"].get("ready"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"chromedriver not ready after {timeout_s} s")

    def _in_session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("the browser is closed")
        if method == "POST" and body is None:
            body = {}
        answer = self._call(method, f"/session/{self._session}{path}", body)
        return answer

    # -- what tests and screenshots use

    def open(self, url: str) -> None:
        """Load ``url`` and wait until the page has loaded."""
        self._in_session("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page (``return ...`` gives its value)."""
        return self._in_session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def text(self, selector: str = "body") -> str:
        """What the page shows of ``selector`` (its innerText: hidden parts left out)."""
        script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;"
        return str(self.run(script, selector) or "")

    def count(self, selector: str) -> int:
        return int(self.run("return document.querySelectorAll(arguments[0]).length;", selector))

    def click(self, selector: str) -> None:
        found = self._in_session("POST", "/element", {"using": "css selector", "value": selector})
        self._in_session("POST", f"/element/{found[_ELEMENT]}/click")

    def url(self) -> str:
        return str(self._in_session("GET", "/url"))

    def wait_for(self, script: str, timeout_s: float = 30.0) -> Any:
        """Poll ``script`` (a JavaScript expression) until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.run(f"return ({script});")
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{script} did not become true within {timeout_s} s")

    def resize(self, width: int, height: int) -> None:
        self._in_session("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path: Path | None = None, *, full_page: bool = False) -> bytes:
        """A PNG of the window (``full_page``: grown to the page's height first)."""
        if full_page:
            width = int(self.run("return window.outerWidth;"))
            self.resize(width, 6000)  # lay the page out whole, then fit the window to it
            height = int(
                self.run("return Math.ceil(document.body.getBoundingClientRect().bottom);")
            )
            chrome = int(self.run("return window.outerHeight - window.innerHeight;"))
            self.resize(width, min(max(height, 100) + chrome, 6000))
        png = base64.b64decode(self._in_session("GET", "/screenshot"))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        return png

    def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self._call("DELETE", f"/session/{self._session}")
            self._session = None
        if self._driver.poll() is None:
            self._driver.terminate()
            try:
                self._driver.wait(10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait(5)
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":  # a quick look: python scripts/browser.py URL OUT.png
    import sys

    with Browser() as browser:
        browser.open(sys.argv[1])
        browser.screenshot(Path(sys.argv[2]), full_page=True)
        print(browser.text()[:2000])
