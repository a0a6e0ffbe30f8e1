"""Custom health checks beside the built-in ones, and what /health and /health/ready answer.

A check returns nothing, a message, ``health.warn(...)``/``health.fail(...)``, or raises; async
checks work too. A failing critical check turns /health/ready into 503.

Run: python examples/health_checks.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.error
import urllib.request
from typing import Any

from pywats_otel import health, init_telemetry


class WatsServer:
    """Stands in for the real WATS server connection."""

    up = True

    def check(self) -> str:
        if not self.up:
            raise ConnectionError("WATS server does not answer")
        return "WATS server answers"


server = WatsServer()


async def converter_service() -> health.CheckResult:
    await asyncio.sleep(0.01)  # e.g. ask a converter process over a socket
    return health.ok("3 converters loaded")


def free_disk() -> health.CheckResult:
    usage = shutil.disk_usage(".")
    share = usage.used / usage.total
    return health.warn(f"disk {share:.0%} full") if share > 0.9 else health.ok("disk ok")


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main() -> None:
    health.register_check("wats-server", server.check, critical=True, timeout_s=1.0)
    health.register_check("converters", converter_service, critical=False)
    health.register_check("free-disk", free_disk, critical=False)
    # health_cache_s=0: every request runs the checks again (the default caches 1 s).
    telemetry = init_telemetry(service_name="example-station", prometheus_port=0, health_cache_s=0)
    base = telemetry.metrics_url.removesuffix("/metrics")

    status, report = get(f"{base}/health")
    print(f"/health: {status} {report['status']}")
    for name in ("wats-server", "converters", "free-disk"):
        check = report["checks"][name]
        print(f"  {name}: {check['status']} ({check['message']})")
    print(f"/health/ready: {get(f'{base}/health/ready')[0]}")

    server.up = False
    status, report = get(f"{base}/health/ready")
    print(f"WATS server down -> /health/ready: {status} ({report['reason']})")
    telemetry.shutdown(timeout_s=5)


if __name__ == "__main__":
    main()
