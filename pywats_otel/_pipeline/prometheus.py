"""The Prometheus reader's translation made safe for any attribute a program records.

``harden(reader)`` gives a ``PrometheusMetricReader`` (opentelemetry-exporter-prometheus) a
collector that differs from the stock one in what the stock one gets wrong:

- Attribute keys that differ only in characters Prometheus does not allow (``a.b`` and ``a_b``)
  become one label. The stock collector kept one of the values (whichever came last) and served
  two series with the same labels, which the OpenMetrics parser refuses. Here the values are
  joined with ``;`` in the order of the original keys, as the OpenTelemetry specification's
  Prometheus compatibility says, and series that still end up with the same labels are merged:
  counters and histograms added up, a gauge keeping the value of the first original attribute
  set in sorted order.
- Characters that split a line for line-oriented readers (``\\r``, ``\\x0b``, ``\\x0c``,
  ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``; Python's ``str.splitlines()`` among
  them) are written as backslash escapes in label values; prometheus_client escapes only
  ``\\n``, ``"`` and ``\\``.
- Text that is not valid UTF-8 (lone surrogates) in a description, a scope's name or version,
  or a resource attribute is written with backslash escapes and counted
  (``pywats.otel.metric.replaced_values``); attribute values of series are cleaned where the
  series is made (``cardinality``).
- A metric whose translation fails is left out of that scrape with a warning (once a minute),
  instead of failing the whole scrape.

Only private methods of the stock collector are overridden; the reader itself, its
temporalities and its registry are the stock ones.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from itertools import chain
from typing import Any

from pywats_otel._base.ratelimit import warn_once
from pywats_otel._pipeline import cardinality

__all__ = ["escape_line_breaks", "harden", "new_registry"]

_MAX_LABELS = 10_000
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def escape_line_breaks(text: str) -> str:
    """``text`` with the characters that end a line for ``splitlines()`` as ``\\r``,
    ``\\x0b``, ``\\u2028`` and so on (``\\n`` is prometheus_client's to escape)."""
    return _LINE_BREAKS.sub(lambda found: found.group(0).encode("unicode_escape").decode(), text)


def _clean(text: str, metric: str) -> str:
    return cardinality.cleaned_and_counted(text, metric, "prometheus")


def _registry_class() -> type:
    from prometheus_client import CollectorRegistry

    class IsolatingRegistry(CollectorRegistry):
        """A CollectorRegistry whose collectors fail one at a time: a collector that raises is
        left out of that scrape (warned about once a minute), the others are served."""

        def collect(self) -> Any:
            with self._lock:
                collectors = list(self._collector_to_names)
            for collector in collectors:
                try:
                    families = list(collector.collect())
                except Exception as exc:  # noqa: BLE001 - one collector must not fail the rest
                    warn_once(
                        ("prometheus-collector", type(collector).__qualname__),
                        "pywats_otel: the collector %s is left out of /metrics: %s: %s",
                        type(collector).__qualname__,
                        type(exc).__name__,
                        exc,
                    )
                    continue
                yield from families

    return IsolatingRegistry


def new_registry() -> Any:
    """The registry the endpoint serves: prometheus_client's, isolating its collectors."""
    return _registry_class()()


def _collector_class() -> type:
    from opentelemetry.exporter.prometheus import _CustomCollector
    from opentelemetry.exporter.prometheus._mapping import sanitize_attribute
    from opentelemetry.sdk.metrics.export import Gauge, HistogramDataPoint

    labels_of: dict[str, str] = {}
    search = _LINE_BREAKS.search

    def _label(key: str) -> str:
        # The stock sanitizing (a regex per key, per point, per scrape), remembered.
        label = labels_of.get(key)
        if label is None:
            label = sanitize_attribute(key)
            if len(labels_of) >= _MAX_LABELS:
                labels_of.clear()
            labels_of[key] = label
        return label

    class HardenedCollector(_CustomCollector):
        _scope_clean = True

        def _translate_metric(
            self,
            metric: Any,
            scope_attrs: dict[str, Any],
            resource_attrs: dict[str, Any],
            metric_family_id_metric_family: dict[str, Any],
        ) -> None:
            try:
                if metric.description and not metric.description.isascii():
                    described = _clean(metric.description, metric.name)
                    if described != metric.description:
                        metric = dataclasses.replace(metric, description=described)
                if not self._scope_clean:
                    scope_attrs = {
                        key: _clean(value, metric.name) if isinstance(value, str) else value
                        for key, value in scope_attrs.items()
                    }
                super()._translate_metric(
                    metric=metric,
                    scope_attrs=scope_attrs,
                    resource_attrs=resource_attrs,
                    metric_family_id_metric_family=metric_family_id_metric_family,
                )
            except Exception as exc:  # noqa: BLE001 - one metric must not fail the scrape
                warn_once(
                    ("prometheus-metric", metric.name),
                    "pywats_otel: metric %s is left out of /metrics: %s: %s",
                    metric.name,
                    type(exc).__name__,
                    exc,
                )

        def _build_scope_attrs(self, scope: Any) -> dict[str, Any]:
            attributes: dict[str, Any] = super()._build_scope_attrs(scope)
            self._scope_clean = all(
                not isinstance(value, str) or value.isascii() for value in attributes.values()
            )
            return attributes

        def _create_info_metric(
            self, name: str, description: str, attributes: dict[str, Any]
        ) -> Any:
            clean = {
                _clean(key, name): _clean(value, name) if isinstance(value, str) else value
                for key, value in attributes.items()
            }
            return super()._create_info_metric(name, description, clean)

        def _check_value(self, value: Any) -> str:
            # The stock method (JSON for what is not text), line breaks escaped.
            if type(value) is not str:
                return json.dumps(value, default=str)
            if search(value) is not None:
                return escape_line_breaks(value)
            return value

        def _collect_data_points(
            self,
            metric_data: Any,
            scope_attrs: dict[str, Any],
            resource_attrs: dict[str, Any],
        ) -> tuple[list[str], list[list[str]], list[Any]]:
            # The stock method, noting which label each original key became: only a metric
            # where two keys became one label pays for merging.
            keys: dict[str, str] = {}
            collided = False
            rows: list[dict[str, str]] = []
            values: list[Any] = []
            check = self._check_value
            for point in metric_data.data_points:
                labels: dict[str, str] = {}
                for key, value in chain(
                    resource_attrs.items(), scope_attrs.items(), point.attributes.items()
                ):
                    label = labels_of.get(key) or _label(key)
                    if keys.setdefault(label, key) != key:
                        collided = True
                    labels[label] = check(value)
                rows.append(labels)
                values.append(_value(point, HistogramDataPoint))
            if collided:
                return self._merged(metric_data, scope_attrs, resource_attrs, Gauge)
            label_keys = sorted(keys)
            return label_keys, [[row.get(k, "") for k in label_keys] for row in rows], values

        def _merged(
            self,
            metric_data: Any,
            scope_attrs: dict[str, Any],
            resource_attrs: dict[str, Any],
            gauge: type,
        ) -> tuple[list[str], list[list[str]], list[Any]]:
            series: dict[tuple[tuple[str, str], ...], tuple[Any, list[Any]]] = {}
            order: list[tuple[tuple[str, str], ...]] = []
            for point in sorted(
                metric_data.data_points, key=lambda p: sorted(map(str, p.attributes.items()))
            ):
                grouped: dict[str, list[tuple[str, str]]] = {}
                for key, value in chain(
                    resource_attrs.items(), scope_attrs.items(), point.attributes.items()
                ):
                    grouped.setdefault(_label(key), []).append((key, self._check_value(value)))
                labels = tuple(
                    sorted(
                        (label, ";".join(text for _, text in sorted(items)))
                        for label, items in grouped.items()
                    )
                )
                value = _value(point, HistogramDataPoint)
                seen = series.get(labels)
                if seen is None:
                    series[labels] = (value, [])
                    order.append(labels)
                elif not isinstance(metric_data, gauge):
                    series[labels] = (_added(seen[0], value), [])
                # A gauge keeps the value of the first series in sorted order.
            label_keys = sorted({label for labels in order for label, _ in labels})
            label_rows = []
            for labels in order:
                row = dict(labels)
                label_rows.append([row.get(key, "") for key in label_keys])
            return label_keys, label_rows, [series[labels][0] for labels in order]

    return HardenedCollector


def _value(point: Any, histogram_point: type[Any]) -> Any:
    if isinstance(point, histogram_point):
        return {
            "bucket_counts": point.bucket_counts,
            "explicit_bounds": point.explicit_bounds,
            "sum": point.sum,
        }
    return point.value


def _added(first: Any, second: Any) -> Any:
    if isinstance(first, dict):
        counts: Sequence[int] = first["bucket_counts"]
        return {
            "bucket_counts": [a + b for a, b in zip(counts, second["bucket_counts"], strict=True)],
            "explicit_bounds": first["explicit_bounds"],
            "sum": first["sum"] + second["sum"],
        }
    return first + second


def harden(reader: Any) -> None:
    """Replace the stock collector of a PrometheusMetricReader by the hardened one, in the same
    registry; other readers are left alone."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader, _CustomCollector

    old = getattr(reader, "_collector", None)
    registry = getattr(reader, "_registry", None)
    if (
        not isinstance(reader, PrometheusMetricReader)
        or not isinstance(old, _CustomCollector)
        or registry is None
    ):
        return
    hardened = _collector_class()
    kind = type(old)
    # A collector of our own below the stock one (the exemplar collector of the endpoint's
    # reader) keeps its behaviour, on top of the hardened one: its calls to super() go there.
    cls = hardened if kind is _CustomCollector else type(kind.__name__, (kind, hardened), {})
    collector = cls(
        disable_target_info=old._disable_target_info,
        prefix=old._prefix,
        scope_info_enabled=old._scope_info_enabled,
        resource_attribute_filter=old._resource_attribute_filter,
    )
    collector._callback = reader.collect
    registry.unregister(old)
    reader._collector = collector
    registry.register(collector)
