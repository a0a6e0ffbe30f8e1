"""The endpoint under abuse: health probes and scrapes while many clients connect at once or
trickle their requests in, a header line every few seconds.

    python -m benchmarks.slow_clients [--clients 200] [--probes 50]

One station (``init_telemetry()`` with the endpoint on 127.0.0.1), then, each on fresh
connections like a kubelet's or Prometheus' probes:

- ``idle``: sequential ``GET /health/live`` and ``GET /metrics``;
- ``burst``: ``--clients`` probes connecting at the same moment (the listen backlog);
- ``slow clients``: sequential probes and scrapes while ``--clients`` clients keep a request
  open, sending one header line every 4 s (each request's total deadline closes them).

Per phase: median, 95th percentile and slowest probe, probes that failed or took over 5 s, and
the threads of the process. Loopback only; a figure of this machine, not a budget.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import statistics
import threading
import time
import urllib.request

_PROBE_TIMEOUT_S = 5.0


def _get(url: str) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as response:
            response.read()
            ok = response.status == 200
    except OSError:
        ok = False
    return time.perf_counter() - started, ok


class _SlowClients:
    """``count`` connections that send a request line, then a header line every ``every_s``."""

    def __init__(self, port: int, count: int, every_s: float = 4.0) -> None:
        self.port, self.count, self.every_s = port, count, every_s
        self.opened = 0
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _SlowClients:
        self._thread.start()
        return self

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        sockets = []
        for _ in range(self.count):
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: station\r\n")
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
            sockets.append(conn)
            self.opened += 1
        line = 0
        next_send = time.monotonic() + self.every_s
        alive = set(sockets)
        while not self._stop.is_set() and alive:
            for key, _ in selector.select(timeout=0.2):
                conn = key.fileobj
                try:
                    data = conn.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:  # the server closed it (or answered and closed)
                    selector.unregister(conn)
                    alive.discard(conn)  # type: ignore[arg-type]
                    self.closed_by_server += 1
            if time.monotonic() >= next_send:
                line += 1
                for conn in list(alive):
                    with contextlib.suppress(OSError):
                        conn.send(f"X-Slow-{line}: still coming\r\n".encode())
                next_send += self.every_s
        for conn in sockets:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _summary(name: str, results: list[tuple[float, bool]]) -> str:
    times = sorted(t for t, _ in results)
    failed = sum(1 for t, ok in results if not ok or t > _PROBE_TIMEOUT_S)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return (
        f"| {name} | {len(results)} | {statistics.median(times) * 1000:.1f} ms "
        f"| {p95 * 1000:.1f} ms | {times[-1] * 1000:.1f} ms | {failed} "
        f"| {threading.active_count()} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slow_clients")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--probes", type=int, default=50)
    args = parser.parse_args()

    from pywats_otel import init_telemetry, queue

    telemetry = init_telemetry(
        service_name="abused-station",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        instrumentations="none",
    )
    with queue.enqueue("reports", {}):
        pass
    assert telemetry.endpoint is not None
    assert telemetry.metrics_url is not None
    port = telemetry.endpoint.port
    live = f"http://127.0.0.1:{port}/health/live"
    scrape = telemetry.metrics_url
    rows = []

    rows.append(_summary("idle: /health/live", [_get(live) for _ in range(args.probes)]))
    rows.append(_summary("idle: /metrics", [_get(scrape) for _ in range(10)]))

    barrier = threading.Barrier(args.clients)
    burst: list[tuple[float, bool]] = []

    def at_once() -> None:
        barrier.wait()
        burst.append(_get(live))

    threads = [threading.Thread(target=at_once) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows.append(_summary(f"burst: {args.clients} /health/live at once", burst))

    slow = _SlowClients(port, args.clients).start()
    while slow.opened < args.clients:
        time.sleep(0.1)
    time.sleep(1.0)
    rows.append(
        _summary(
            f"{args.clients} slow clients: /health/live", [_get(live) for _ in range(args.probes)]
        )
    )
    rows.append(
        _summary(f"{args.clients} slow clients: /metrics", [_get(scrape) for _ in range(10)])
    )
    waited = time.monotonic()
    while slow.closed_by_server < args.clients and time.monotonic() - waited < 45:
        time.sleep(0.5)
    dropped_after = time.monotonic() - waited
    slow.stop()
    telemetry.shutdown(timeout_s=2)

    print("| phase | probes | median | p95 | slowest | failed or > 5 s | threads |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    print()
    print(
        f"slow clients closed by the server: {slow.closed_by_server} of {args.clients} "
        f"({dropped_after + 1.0:.0f} s after they were all connected)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
