"""The Prometheus reader of the endpoint, with exemplars: a slow request on a Grafana panel
leads to its trace.

The SDK samples exemplars (the trace and span ID of a measurement made inside a sampled span,
``OTEL_METRICS_EXEMPLAR_FILTER=trace_based`` by default) onto histogram buckets and sums; the
stock ``PrometheusMetricReader`` of opentelemetry-exporter-prometheus drops them when it turns
points into Prometheus samples. This reader is that reader, whose collector then puts each
exemplar on its sample, as the OpenTelemetry/Prometheus compatibility specification says:

- a histogram's exemplar on the ``_bucket`` sample its value falls in (the SDK keeps the last
  one per bucket), a counter's latest one on its ``_total`` sample, none on gauges;
- labels ``trace_id`` (32 hex) and ``span_id`` (16 hex), nothing else: the measurement's other
  attributes (a URL, a serial number) never leave through an exemplar, and the 128-character
  limit of OpenMetrics always holds;
- the measurement's time as the exemplar's timestamp.

The SDK's reservoirs start empty at every collection, so a scrape would take the exemplars
with it and the next scraper (a second Prometheus, a curl) get none: each sample keeps its last
exemplar until a newer one comes (Prometheus stores a repeated exemplar once). Only the
OpenMetrics format carries exemplars; Prometheus asks for it on its own
(``Accept: application/openmetrics-text``). The collector's hooks are private API of
opentelemetry-exporter-prometheus 0.66b1: when they are not there, the stock reader serves
without exemplars.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import Histogram, Sum

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from prometheus_client import CollectorRegistry

__all__ = ["build_prometheus_reader"]

_logger = logging.getLogger("pywats_otel")


def build_prometheus_reader(registry: CollectorRegistry) -> MetricReader:
    """The Prometheus reader registered in ``registry``: with exemplars where the exporter's
    collector has the hooks this needs, else the stock one."""
    try:
        return _ExemplarReader(registry)
    except Exception:  # exemplars are a bonus; the metrics must be served
        _logger.debug("pywats_otel: Prometheus exemplars are off", exc_info=True)
        return PrometheusMetricReader(registry=registry)


def _collector_class() -> type[Any]:
    from opentelemetry.exporter import prometheus as stock
    from opentelemetry.exporter.prometheus._mapping import map_unit
    from prometheus_client.samples import Exemplar, Timestamp

    base: type[Any] = stock._CustomCollector
    should_be_gauge = stock._should_convert_sum_to_gauge
    for hook in ("_translate_metric", "_collect_data_points", "_resolve_metric_name"):
        if not callable(getattr(base, hook, None)):
            raise TypeError(f"opentelemetry-exporter-prometheus has no {hook}()")

    def exemplar_of(sampled: Any) -> Any:
        seconds, nanos = divmod(int(sampled.time_unix_nano), 10**9)
        return Exemplar(
            {"trace_id": f"{sampled.trace_id:032x}", "span_id": f"{sampled.span_id:016x}"},
            sampled.value,
            Timestamp(seconds, nanos),
        )

    class ExemplarCollector(base):  # type: ignore[misc]
        """The stock collector, each exemplar then put on its sample (see the module)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            #: Family name -> {(label values, bucket index): the last exemplar}.
            self._kept: dict[str, dict[tuple[Any, ...], Any]] = {}
            self._rows: list[list[str]] = []

        def _collect_data_points(self, data: Any, *args: Any, **kwargs: Any) -> Any:
            result = super()._collect_data_points(data, *args, **kwargs)
            self._rows = result[1]  # the label values of each point, in the points' order
            return result

        def _translate_metric(self, *args: Any, **kwargs: Any) -> None:
            metric: Any = kwargs.get("metric", args[0] if args else None)
            families = kwargs.get("metric_family_id_metric_family", args[-1] if args else None)
            data = getattr(metric, "data", None)
            if isinstance(data, Histogram):
                kind = "HistogramMetricFamily"
            elif isinstance(data, Sum) and not should_be_gauge(metric):
                kind = "CounterMetricFamily"
            else:
                super()._translate_metric(*args, **kwargs)
                return
            family_id = "|".join(
                (
                    self._resolve_metric_name(metric.name),
                    metric.description or "",
                    map_unit(metric.unit or ""),
                    kind,
                )
            )
            family = families.get(family_id) if families is not None else None
            start = len(family.samples) if family is not None else 0
            self._rows = []
            super()._translate_metric(*args, **kwargs)
            family = families.get(family_id) if families is not None else None
            if family is None or len(self._rows) != len(data.data_points):
                return
            try:
                self._annotate(family, start, data, self._rows)
            except Exception:  # never lose the metric for its exemplars
                _logger.debug("pywats_otel: exemplars of %s left out", family.name, exc_info=True)

        def _annotate(
            self, family: Any, start: int, data: Any, rows: Sequence[Sequence[str]]
        ) -> None:
            points = data.data_points
            kept = self._kept.get(family.name)
            if kept is None and not any(point.exemplars for point in points):
                return
            fresh: dict[tuple[Any, ...], Any] = {}
            samples = family.samples
            index = start
            histogram = isinstance(data, Histogram)
            for point, row in zip(points, rows, strict=True):
                values = tuple(row)
                if histogram:
                    bounds = point.explicit_bounds
                    for sampled in point.exemplars:
                        bucket = bisect_left(bounds, sampled.value)  # the SDK's bucket rule
                        fresh[(values, bucket)] = exemplar_of(sampled)
                    width = len(bounds) + 1
                    for bucket in range(width):
                        found = fresh.get((values, bucket))
                        if found is None and kept is not None:
                            found = kept.get((values, bucket))
                            if found is not None:
                                fresh[(values, bucket)] = found
                        if found is not None:
                            sample = samples[index + bucket]
                            if not sample.name.endswith("_bucket"):
                                raise RuntimeError(f"unexpected sample {sample.name}")
                            samples[index + bucket] = sample._replace(exemplar=found)
                    first = float(bounds[0]) if bounds else float("inf")
                    index += width + (2 if first >= 0 and point.sum is not None else 0)
                else:
                    found = None
                    if point.exemplars:
                        found = exemplar_of(max(point.exemplars, key=lambda e: e.time_unix_nano))
                    elif kept is not None:
                        found = kept.get((values, 0))
                    if found is not None:
                        fresh[(values, 0)] = found
                        sample = samples[index]
                        if not sample.name.endswith("_total"):
                            raise RuntimeError(f"unexpected sample {sample.name}")
                        samples[index] = sample._replace(exemplar=found)
                    index += 1
            # Only the series served now keep an exemplar: the memory follows the series.
            self._kept[family.name] = fresh

    return ExemplarCollector


class _ExemplarReader(PrometheusMetricReader):
    """The stock reader with the exemplar collector in place of its own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        collector_class = _collector_class()
        super().__init__(registry=registry)
        registry.unregister(self._collector)
        self._collector = collector_class(
            disable_target_info=False, prefix="", scope_info_enabled=True
        )
        self._collector._callback = self.collect  # type: ignore[assignment]
        registry.register(self._collector)
