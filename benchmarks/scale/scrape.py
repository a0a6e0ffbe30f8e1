"""Scale: a /metrics scrape with about 100 and 5,000 series, pywats_otel's endpoint beside
prometheus_client's own server."""

from __future__ import annotations

import gzip

from benchmarks import _setups
from benchmarks._harness import CaseResult, Comparison, interleave, sample_lines
from benchmarks.scale import SECTION, Context
from pywats_otel import semconv

ORDER = 10


def run(context: Context) -> list[CaseResult]:
    return scrape(context.rounds, context.quick)


OURS_GET = "pywats_otel GET /metrics"
PLAN_GET = "prometheus_client GET /metrics"
OURS_RENDER = "pywats_otel rendering only"
PLAN_RENDER = "prometheus_client rendering only"
ROUND_TRIP = "HTTP round trip (GET /health/live)"


class _Series:
    """Fills pywats_otel's converter and queue metrics and the same prometheus_client metrics
    with as many label sets as it takes to reach a number of series."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        from pywats_otel import converter, queue

        self.ours_converter = converter._instruments.get()
        self.ours_queue = queue._instruments.get()
        self.registry = CollectorRegistry()
        executions = semconv.metric_info(semconv.CONVERTER_EXECUTIONS)
        duration = semconv.metric_info(semconv.CONVERTER_DURATION)
        enqueued = semconv.metric_info(semconv.QUEUE_ENQUEUED)
        self.plan_executions = Counter(
            semconv.prometheus_name(executions).removesuffix("_total"),
            executions.description,
            ["pywats_converter_name", "pywats_converter_status"],
            registry=self.registry,
        )
        self.plan_duration = Histogram(
            semconv.prometheus_name(duration),
            duration.description,
            ["pywats_converter_name", "pywats_converter_status"],
            buckets=duration.buckets or (),
            registry=self.registry,
        )
        self.plan_enqueued = Counter(
            semconv.prometheus_name(enqueued).removesuffix("_total"),
            enqueued.description,
            ["pywats_queue_name"],
            registry=self.registry,
        )
        self.converters = 0
        self.queues = 0

    def add_converter(self) -> None:
        name = f"converter-{self.converters:05d}"
        self.converters += 1
        attributes = {semconv.CONVERTER_NAME: name, semconv.CONVERTER_STATUS: "success"}
        self.ours_converter.executions.add(1, attributes)
        self.ours_converter.duration.record(0.02, attributes)
        self.plan_executions.labels(name, "success").inc()
        self.plan_duration.labels(name, "success").observe(0.02)

    def add_queue(self) -> None:
        name = f"queue-{self.queues:05d}"
        self.queues += 1
        self.ours_queue.enqueued.add(1, {semconv.QUEUE_NAME: name})
        self.plan_enqueued.labels(name).inc()


#: Series of one converter name: the counter, 15 buckets (14 bounds and +Inf), sum and count.
PER_CONVERTER = 1 + len(semconv.CONVERTER_BUCKETS) + 1 + 2


def _fill(series: _Series, target: int) -> None:
    """Add label sets until both sides hold ``target`` series of the station's metrics."""
    while (series.converters + 1) * PER_CONVERTER + series.queues <= target:
        series.add_converter()
    while series.converters * PER_CONVERTER + series.queues < target:
        series.add_queue()


def scrape(rounds: int, quick: bool) -> list[CaseResult]:
    import httpx
    from prometheus_client import disable_created_metrics, generate_latest, start_http_server

    # The OpenTelemetry exporter serves no _created series; without them on both sides the two
    # servers hold exactly the same series.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    ours = _setups.PywatsOtel(traces_exporter="none")
    series = _Series()
    plan_server, plan_thread = start_http_server(0, addr="127.0.0.1", registry=series.registry)
    endpoint = ours.telemetry.endpoint
    assert endpoint is not None
    base = endpoint.url
    plan_url = f"http://127.0.0.1:{plan_server.server_port}/metrics"
    client = httpx.Client(headers={"Accept-Encoding": "gzip"})
    results = []
    try:

        def ours_get() -> bytes:
            return client.get(f"{base}/metrics").content

        def plan_get() -> bytes:
            return client.get(plan_url).content

        for target in (100, 5000):
            _fill(series, target)
            served, plan_served = sample_lines(ours_get()), sample_lines(plan_get())
            # Scrapes per round: a round of the large case takes as long as one of the small.
            ops = {(100, True): 5, (100, False): 50, (5000, True): 1, (5000, False): 5}[
                (target, quick)
            ]
            case = interleave(
                SECTION,
                f"/metrics scrape, {target:,} series",
                {
                    ROUND_TRIP: lambda: client.get(f"{base}/health/live"),
                    OURS_GET: ours_get,
                    PLAN_GET: plan_get,
                    OURS_RENDER: lambda: endpoint.render_metrics("text/plain", "gzip"),
                    PLAN_RENDER: lambda: gzip.compress(generate_latest(series.registry)),
                },
                baseline=ROUND_TRIP,
                ops=ops,
                rounds=rounds,
                warmup_ops=2,
            )
            case.no_ratio = frozenset({OURS_RENDER, PLAN_RENDER})
            case.comparisons += [
                Comparison(
                    f"scrape {target:,}: pywats_otel / prometheus_client", OURS_GET, PLAN_GET
                ),
                Comparison(
                    f"rendering {target:,}: pywats_otel / prometheus_client",
                    OURS_RENDER,
                    PLAN_RENDER,
                ),
            ]
            case.notes.append(
                f"{target} series of the station's metrics on both sides ({series.converters} "
                f"converter names x {PER_CONVERTER} series of a counter and a histogram, "
                f"{series.queues} queue names x 1); pywats_otel serves {served - plan_served} "
                f"more of its own (target_info, export and health metrics): {served} in all, "
                f"prometheus_client {plan_served}; wall time per scrape with the client in the "
                "same process; gzip on both, as Prometheus asks"
            )
            case.extra.update({"series_ours": served, "series_prometheus_client": plan_served})
            results.append(case)
    finally:
        client.close()
        plan_server.shutdown()
        plan_server.server_close()
        plan_thread.join(5)
        ours.shutdown()
    return results
