"""Scale: an idle station's CPU per minute, with pywats_otel and without (``_idle_station``).

The stations run side by side for whole minutes; the controller scrapes pywats_otel's /metrics
every 15 s as Prometheus does (gzip, the connection kept alive), and pywats_otel exports its
metrics every minute (the default interval) over OTLP/gRPC to a sink process, or over OTLP/HTTP
to a receiver. Each minute is one sample: the station's CPU time over it (all its threads, from
the station itself). The goal: pywats_otel adds under 0.03 % of one core, 18 ms a minute.
"""

from __future__ import annotations

import gzip
import http.client
import time

from benchmarks import _sink
from benchmarks._harness import CaseResult, Comparison, Helper
from benchmarks.scale import SECTION, Context
from benchmarks.scale._idle_station import NONE, OURS, OURS_HTTP, VARIANTS

ORDER = 50
GOAL_MS = 18.0
SCRAPE_S = 15.0
_HTTP_RECEIVER = (
    "import sys\n"
    "from pywats_otel.testing.otlp import OTLPReceiver\n"
    "receiver = OTLPReceiver('http/protobuf').start()\n"
    "print(receiver.endpoint, flush=True)\n"
    "sys.stdin.read()\n"
    "receiver.stop()\n"
)


def _station(variant: str, otlp: str, otlp_http: str) -> Helper:
    """A station process; its first line is its /metrics port, ``ask("cpu")`` its CPU time."""
    args = ["-m", "benchmarks.scale._idle_station", "--variant", variant]
    return Helper([*args, "--otlp", otlp, "--otlp-http", otlp_http], name=f"idle station {variant}")


_connections: dict[int, http.client.HTTPConnection] = {}


def _scrape(port: int) -> int:
    """GET /metrics as Prometheus does: gzip, on a connection kept alive between scrapes."""
    headers = {"Accept-Encoding": "gzip", "Accept": "text/plain;version=0.0.4"}
    for attempt in range(2):
        connection = _connections.get(port)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            _connections[port] = connection
        try:
            connection.request("GET", "/metrics", headers=headers)
            response = connection.getresponse()
            body = response.read()
            break
        except (http.client.RemoteDisconnected, ConnectionError):
            # The endpoint closes a connection idle for 10 s (a scrape every 15 s finds it
            # closed): a new one, as Prometheus's client opens.
            connection.close()
            del _connections[port]
            if attempt:
                raise
    if response.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def run(context: Context) -> list[CaseResult]:
    minutes = 1 if context.quick else max(3, context.rounds // 5)
    window = 20.0 if context.quick else 60.0
    scrape_every = 5.0 if context.quick else SCRAPE_S
    sink, endpoint = _sink.start()
    receiver = Helper(["-c", _HTTP_RECEIVER], name="the OTLP/HTTP receiver")
    stations = {variant: _station(variant, endpoint, receiver.line) for variant in VARIANTS}
    case = CaseResult(
        SECTION, "idle station, CPU per minute", "ms", NONE, {v: [] for v in VARIANTS}
    )
    threads: dict[str, float] = {}
    series = 0
    try:
        time.sleep(5)  # start-up's own work settles (the first health run, the first scrape)
        series = _scrape(int(stations[OURS].line))
        _scrape(int(stations[OURS_HTTP].line))
        for _ in range(minutes):
            before = {variant: station.ask("cpu") for variant, station in stations.items()}
            started = time.monotonic()
            next_scrape = started + scrape_every
            while (now := time.monotonic()) < started + window:
                if now >= next_scrape:
                    series = _scrape(int(stations[OURS].line))
                    _scrape(int(stations[OURS_HTTP].line))
                    next_scrape += scrape_every
                time.sleep(min(0.25, max(started + window - now, 0.0)))
            elapsed = time.monotonic() - started
            after = {variant: station.ask("cpu") for variant, station in stations.items()}
            for variant in stations:
                used = after[variant]["cpu_s"] - before[variant]["cpu_s"]
                case.samples[variant].append(1000 * used * 60.0 / elapsed)
            for name, seconds in after[OURS]["threads"].items():
                spent = seconds - before[OURS]["threads"].get(name, 0.0)
                threads[name] = threads.get(name, 0.0) + spent
    finally:
        for connection in _connections.values():
            connection.close()
        _connections.clear()
        for station in stations.values():
            station.close("quit")
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(30)
        receiver.close()
    case.comparisons += (
        Comparison(
            "idle station: pywats_otel's CPU, in ms a minute beyond the station without it",
            OURS,
            NONE,
            kind="difference",
            goal=GOAL_MS,
            goal_text="< 18 ms a minute (0.03 % of one core)",
        ),
        Comparison(
            "idle station, OTLP over HTTP: pywats_otel's CPU, in ms a minute beyond the "
            "station without it",
            OURS_HTTP,
            NONE,
            kind="difference",
        ),
    )
    busiest = sorted(threads.items(), key=lambda item: -item[1])[:8]
    per_minute = ", ".join(
        f"{name} {1000 * seconds / minutes:.0f}" for name, seconds in busiest if seconds > 0
    )
    case.notes += [
        f"{minutes} minute(s) per variant, side by side; /metrics scraped every "
        f"{scrape_every:.0f} s ({series} series), metrics exported over OTLP/gRPC every 60 s, "
        "process, system and health metrics, every instrumentation on; a PersistentQueue open",
        "where pywats_otel's station spends it, ms a minute by thread (live threads, 10 ms "
        f"ticks; short-lived threads count in the total only): {per_minute or 'none measurable'}",
    ]
    case.extra["threads_ms_per_minute"] = {k: 1000 * v / minutes for k, v in threads.items()}
    return [case]
