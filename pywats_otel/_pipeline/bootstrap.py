"""init_telemetry(): settings -> resource -> traces -> metrics -> logs -> instrumentations.

Each step is a small function that adds to the Telemetry handle's parts. The global providers
are set once per process; a second init_telemetry() returns the handle of the first.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import socket
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk.resources import (
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
)
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.version import __version__ as sdk_version
from typing_extensions import Unpack

from pywats_otel import semconv
from pywats_otel._base import state
from pywats_otel._base.errors import SettingProblem, TelemetryConfigError
from pywats_otel._base.ratelimit import warn_once
from pywats_otel._base.redact import scrub
from pywats_otel._base.trace_ids import CorrelationIdGenerator
from pywats_otel._config import exporters as _exporters
from pywats_otel._config.kwargs import SettingsKwargs
from pywats_otel._config.loader import load_settings
from pywats_otel._config.settings import Signal, TelemetrySettings
from pywats_otel._pipeline import attach, cardinality, fork, prometheus
from pywats_otel._pipeline.export import (
    CountingBatchLogRecordProcessor,
    CountingBatchSpanProcessor,
    CountingLogExporter,
    CountingMetricExporter,
    CountingSpanExporter,
    ExportStats,
    install_sdk_log_filter,
)
from pywats_otel._pipeline.telemetry import Parts, Telemetry
from pywats_otel._version import __version__
from pywats_otel.instrumentation import _registry as _instrumentations

__all__ = ["get_telemetry", "init_telemetry", "shutdown_telemetry"]

_logger = logging.getLogger("pywats_otel")
_lock = threading.RLock()
_atexit_registered = False


def init_telemetry(**settings: Unpack[SettingsKwargs]) -> Telemetry:
    """Set up traces, metrics and logs for this process and return the handle.

    Keyword arguments override any setting (see ``TelemetrySettings``); ``None`` means "not
    given". Values come from keyword arguments, ``PYWATS_OTEL_*`` variables, ``OTEL_*``
    variables, the TOML file named by ``PYWATS_OTEL_CONFIG_FILE``, then defaults.

    Raises TelemetryConfigError for a refused setting. Anything else that goes wrong while
    starting (a port in use, a collector down) is logged and start-up goes on.
    """
    with _lock:
        current = state.running()
        if current is not None:
            _warn_if_different(current, settings)
            return current
        resolved = _keep_the_endpoint(load_settings(settings))
        for note in resolved.notes:
            _logger.warning("pywats_otel: %s", note)
        telemetry = _start(resolved) if resolved.enabled else Telemetry(resolved)
        state.set_running(telemetry)
        _register_atexit()
        return telemetry


def _keep_the_endpoint(settings: TelemetrySettings) -> TelemetrySettings:
    """Under opentelemetry-distro's distro, whose defaults include OTEL_METRICS_EXPORTER=otlp
    (set with setdefault, so it cannot be told from the user's own), keep /metrics and
    /health: add prometheus. PYWATS_OTEL_METRICS_EXPORTER or the keyword argument decide
    without this."""
    import sys

    source = settings.source_of("metrics_exporter")
    if (
        "opentelemetry.distro" not in sys.modules
        or source != "environment variable OTEL_METRICS_EXPORTER"
        or settings.metrics_exporter != ("otlp",)
    ):
        return settings
    kept = settings.model_copy(update={"metrics_exporter": ("otlp", "prometheus")})
    kept._sources = {
        **settings._sources,
        "metrics_exporter": source + " (otlp, opentelemetry-distro's default) + prometheus "
        "(pywats_otel keeps /metrics and /health; PYWATS_OTEL_METRICS_EXPORTER decides)",
    }
    kept._notes = list(settings._notes)
    _logger.info(
        "pywats_otel: OTEL_METRICS_EXPORTER=otlp is opentelemetry-distro's default; pywats_otel "
        "serves /metrics and /health as well (PYWATS_OTEL_METRICS_EXPORTER=otlp turns them off)"
    )
    return kept


def get_telemetry() -> Telemetry | None:
    """The handle init_telemetry() returned, or None before it; after shutdown it is still
    that handle, shut down (``is_shut_down``)."""
    return state.running()


def shutdown_telemetry(timeout_s: float | None = None) -> bool:
    """Shut the running telemetry down (see Telemetry.shutdown); True when there is none."""
    telemetry = state.running()
    if telemetry is None:
        return True
    bound = telemetry.settings.shutdown_timeout_s if timeout_s is None else timeout_s
    return telemetry.shutdown(timeout_s=bound)


def forget() -> None:
    """Drop the handle so that init_telemetry() starts afresh (pywats_otel.testing uses it)."""
    with _lock:
        state.set_running(None)


def _warn_if_different(current: Telemetry, settings: Mapping[str, Any]) -> None:
    if current.is_shut_down:
        _logger.warning(
            "pywats_otel: init_telemetry() after shutdown returns the shut-down handle: "
            "OpenTelemetry's global providers can be set once per process, so telemetry stays "
            "off and spans and log records from now on are dropped (status() says so)"
        )
    if not settings:
        return
    if current.started_by is not None:
        _logger.warning(
            "pywats_otel: telemetry was set up by %s from the environment before the program "
            "ran; the arguments of this init_telemetry() call (%s) are not applied: give them "
            "as variables (OTEL_SERVICE_NAME, PYWATS_OTEL_*) instead",
            current.started_by,
            ", ".join(sorted(name for name, value in settings.items() if value is not None)),
        )
        return
    # Only what this call asks for explicitly counts; the rest resolves the same way anyway.
    wanted, current_values = load_settings(settings).redacted(), current.settings.redacted()
    changed = sorted(
        name
        for name, value in settings.items()
        if value is not None and wanted.get(name) != current_values.get(name)
    )
    if changed:
        _logger.warning(
            "pywats_otel: init_telemetry() was called again with different settings (%s); "
            "the first call's settings stay in effect",
            ", ".join(changed),
        )


def _register_atexit() -> None:
    global _atexit_registered  # noqa: PLW0603 - register once per process
    if not _atexit_registered:
        atexit.register(_shutdown_at_exit)
        _atexit_registered = True


def _shutdown_at_exit() -> None:
    telemetry = state.running()
    if telemetry is not None and not telemetry.is_shut_down:
        telemetry.shutdown(timeout_s=telemetry.settings.shutdown_timeout_s)


# -- the steps ------------------------------------------------------------------------------


def _start(settings: TelemetrySettings) -> Telemetry:
    resource = build_resource(settings)
    parts = Parts()
    telemetry = Telemetry(settings, resource, parts)
    try:
        _setup_traces(telemetry, parts)
        _setup_metrics(telemetry, parts)
        _setup_logs(telemetry, parts)
        install_sdk_log_filter()
        _setup_self_observation(telemetry, parts)
        _setup_instrumentations(telemetry, parts)
        parts.cleanups.append(("fork handlers", fork.install(telemetry)))
    except TelemetryConfigError:
        # Leave nothing half-started behind a refused configuration.
        telemetry.shutdown(timeout_s=1.0)
        raise
    except Exception:
        # A bug of ours or of a library must not stop the station: go on without telemetry.
        _logger.exception("pywats_otel: telemetry could not start; the program goes on without it")
        telemetry.shutdown(timeout_s=1.0)
        return Telemetry(settings.model_copy(update={"enabled": False}))
    _log_started(telemetry, parts)
    return telemetry


class _Resource(Resource):
    """The SDK's Resource with its hash computed once: the OTLP encoders group every span and
    log record by resource, and the SDK's hash is a JSON dump of the attributes each time
    (about a tenth of a span's export). A Resource's attributes never change."""

    _hash: int | None = None

    def __hash__(self) -> int:
        cached = self._hash
        if cached is None:
            cached = self._hash = super().__hash__()
        return cached

    # The SDK's __eq__ as it is; defining __hash__ alone would drop it.
    __eq__ = Resource.__eq__


def build_resource(settings: TelemetrySettings) -> Resource:
    """The resource every signal carries; named settings win over OTEL_RESOURCE_ATTRIBUTES."""
    attributes: dict[str, str | int] = dict(settings.resource_attributes)
    attributes.update(
        {
            TELEMETRY_SDK_LANGUAGE: "python",
            TELEMETRY_SDK_NAME: "opentelemetry",
            TELEMETRY_SDK_VERSION: sdk_version,
            semconv.SERVICE_NAME: settings.service_name,
            semconv.HOST_NAME: socket.gethostname(),
            semconv.PROCESS_PID: os.getpid(),
            semconv.PROCESS_RUNTIME_NAME: platform.python_implementation().lower(),
            semconv.PROCESS_RUNTIME_VERSION: platform.python_version(),
        }
    )
    if settings.service_version:
        attributes[semconv.SERVICE_VERSION] = settings.service_version
    if settings.environment:
        attributes[semconv.DEPLOYMENT_ENVIRONMENT_NAME] = settings.environment
    return _Resource(attributes)


def _sampler(settings: TelemetrySettings) -> sampling.Sampler:
    name = settings.sampler
    ratio = settings.effective_sampler_arg
    root: sampling.Sampler
    if name.endswith("always_on"):
        root = sampling.ALWAYS_ON
    elif name.endswith("always_off"):
        root = sampling.ALWAYS_OFF
    else:
        root = sampling.TraceIdRatioBased(ratio)
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root


def _context(telemetry: Telemetry, signal: Signal, **extra: Any) -> _exporters.ExporterContext:
    assert telemetry.resource is not None
    return _exporters.ExporterContext(telemetry.settings, telemetry.resource, signal, **extra)


def _build(what: str, name: str, signal: Signal, build: Any, context: Any) -> Any:
    """Call an exporter factory; turn a missing package or a bad argument into a config error."""
    try:
        return build(context)
    except ImportError as exc:
        raise TelemetryConfigError(
            [
                SettingProblem(
                    f"{signal}_exporter",
                    "settings",
                    f"the {name} {what} needs a package that is not installed ({exc.name}); "
                    f"install it with pip",
                    ", ".join(_exporters.available_exporters(signal)),
                )
            ]
        ) from None
    except (ValueError, TypeError, OSError) as exc:
        raise TelemetryConfigError(
            [
                SettingProblem(
                    f"{signal}_exporter",
                    "settings",
                    f"the {name} {what} refused its settings: {scrub(str(exc))}",
                    "see the exporter's documentation",
                )
            ]
        ) from None


def _stats(
    signal: Signal,
    name: str,
    spec: _exporters.ExporterSpec,
    context: _exporters.ExporterContext,
    *,
    counts_accepted: bool,
) -> ExportStats:
    """The counters of one exporter, with the probe its first failure runs."""
    stats = ExportStats(
        signal, name, spec.describe(context) or name, counts_accepted=counts_accepted
    )
    if spec.diagnose is not None:
        stats.diagnose = spec.diagnose(context)
    if name == "otlp":
        from pywats_otel._config.otlp import otlp_options

        note = otlp_options(context.settings, signal).note
        if note is not None:
            warn_once(("otlp-endpoint-path", note), "pywats_otel: %s", note)
    return stats


def _foreign(signal: str, sdk_type: type[Any], what: str) -> Any | None:
    """The SDK provider set before init_telemetry() (to add to), or None; a provider of
    another kind is warned about."""
    found = attach.set_before(signal)
    if found is None or isinstance(found, sdk_type):
        return found
    _logger.warning(
        "pywats_otel: a %s of %s was set before init_telemetry(); OpenTelemetry keeps the "
        "first one, so pywats_otel's %s exporters are not used",
        what,
        type(found).__name__,
        signal,
    )
    return None


def _left_out(signal: str, names: tuple[str, ...], set_before: list[str]) -> None:
    if names:
        _logger.info(
            "pywats_otel: the %s provider set before init_telemetry() exports itself (%s); "
            "pywats_otel's own %s exporters (%s) are left out, so nothing is sent twice",
            signal,
            ", ".join(set_before),
            signal,
            ", ".join(names),
        )


def _setup_traces(telemetry: Telemetry, parts: Parts) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    settings = telemetry.settings
    foreign = _foreign("traces", TracerProvider, "TracerProvider")
    if foreign is not None:
        parts.tracer_provider = foreign
        parts.owned.discard("traces")
        set_before = attach.span_destinations(foreign)
        parts.foreign["traces"] = set_before
        _add_recent_traces(telemetry, parts, foreign)
        if set_before:
            _left_out("traces", settings.exporters("traces"), set_before)
            return
        _add_span_exporters(telemetry, parts, foreign)
        return
    # The provider exists even with no trace exporter: its trace IDs are the correlation IDs.
    # Its ID generator lets a root span take a trace ID from an incoming correlation header.
    provider = TracerProvider(
        resource=telemetry.resource,
        sampler=_sampler(settings),
        id_generator=CorrelationIdGenerator(),
        shutdown_on_exit=False,
    )
    _add_span_exporters(telemetry, parts, provider)
    _add_recent_traces(telemetry, parts, provider)
    parts.tracer_provider = provider
    trace_api.set_tracer_provider(provider)


def _add_span_exporters(telemetry: Telemetry, parts: Parts, provider: Any) -> None:
    for name in telemetry.settings.exporters("traces"):
        spec = _exporters.get(name, "traces")
        context = _context(telemetry, "traces")
        exporter = _build("span exporter", name, "traces", spec.span_exporter, context)
        stats = _stats("traces", name, spec, context, counts_accepted=True)
        processor = CountingBatchSpanProcessor(CountingSpanExporter(exporter, stats), stats)
        provider.add_span_processor(processor)
        parts.batch_processors.append(processor)
        parts.stats["traces"].append(stats)
        parts.destinations["traces"].append(stats.destination)


def _endpoint_wanted(settings: TelemetrySettings) -> bool:
    """Whether a metrics exporter is served by the endpoint (which then runs)."""
    return any(
        _exporters.get(name, "metrics").uses_endpoint for name in settings.exporters("metrics")
    )


def _add_recent_traces(telemetry: Telemetry, parts: Parts, provider: Any) -> None:
    """The span processor of /traces, first of the provider's, while the endpoint runs."""
    settings = telemetry.settings
    if settings.recent_traces <= 0 or not _endpoint_wanted(settings):
        return
    from pywats_otel._pipeline.recent_traces import RecentTraces

    recent = RecentTraces(
        max_traces=settings.recent_traces,
        max_failed=settings.recent_failed_traces,
        max_spans=settings.recent_trace_spans,
    )
    # Fed by the first of pywats_otel's batch processors on this provider where there is one
    # (one processor call less per span), else a processor of its own.
    ours = [
        processor
        for processor in parts.batch_processors
        if isinstance(processor, CountingBatchSpanProcessor)
    ]
    if ours:
        ours[0].feed(recent)
    else:
        provider.add_span_processor(recent)
    parts.recent_traces = recent


def _setup_metrics(telemetry: Telemetry, parts: Parts) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    settings = telemetry.settings
    readers: list[MetricReader] = []
    reader_names: list[str] = []
    specs = {name: _exporters.get(name, "metrics") for name in settings.exporters("metrics")}
    foreign = _foreign("metrics", MeterProvider, "MeterProvider")
    if foreign is not None:
        set_before = attach.reader_destinations(foreign)
        parts.foreign["metrics"] = set_before
        if set_before:
            # The endpoint's reader is added all the same: /metrics is pulled, not sent.
            pushed = tuple(name for name, spec in specs.items() if not spec.uses_endpoint)
            _left_out("metrics", pushed, set_before)
            specs = {name: spec for name, spec in specs.items() if spec.uses_endpoint}
    registry = None
    if any(spec.uses_endpoint for spec in specs.values()):
        registry = prometheus.new_registry()
    for name, spec in specs.items():
        context = _context(telemetry, "metrics", metrics_registry=registry)
        # A push exporter counts the points handed to it; a pull reader's scrape is its export.
        stats = _stats("metrics", name, spec, context, counts_accepted=spec.metric_reader is None)
        if spec.metric_reader is not None:
            reader = _build("metric reader", name, "metrics", spec.metric_reader, context)
            if spec.uses_endpoint:
                prometheus.harden(reader)
            readers.append(reader)
        else:
            exporter = _build("metric exporter", name, "metrics", spec.metric_exporter, context)
            readers.append(
                PeriodicExportingMetricReader(
                    CountingMetricExporter(exporter, stats),
                    export_interval_millis=settings.metric_export_interval,
                    export_timeout_millis=settings.metric_export_timeout,
                )
            )
        parts.stats["metrics"].append(stats)
        parts.destinations["metrics"].append(stats.destination)
        reader_names.append(name)

    # The limit is in the SDK before the first measurement reaches a reader.
    if cardinality.install():
        for reader, name in zip(readers, reader_names, strict=True):
            cardinality.register_reader(reader, settings.metric_cardinality_limit, name)

        def unlimit() -> None:
            for reader in readers:
                cardinality.unregister_reader(reader)

        parts.cleanups.append(("cardinality limit", unlimit))

    if foreign is not None:
        # Public SDK API (1.45): the reader joins the provider's pipeline. Its histograms get
        # their advisory buckets (from semconv) rather than pywats_otel's views.
        for reader in readers:
            foreign.add_metric_reader(reader)
            parts.attached_readers.append(reader)
        parts.meter_provider = foreign
        parts.owned.discard("metrics")
        if registry is not None:
            _start_endpoint(telemetry, parts, registry)
        return
    views = [
        View(
            instrument_name=name,
            aggregation=ExplicitBucketHistogramAggregation(boundaries=list(buckets)),
        )
        for name, buckets in semconv.histogram_buckets().items()
    ]
    provider = MeterProvider(
        metric_readers=readers,
        resource=telemetry.resource,
        views=views,
        shutdown_on_exit=False,
    )
    parts.meter_provider = provider
    metrics_api.set_meter_provider(provider)
    if registry is not None:
        _start_endpoint(telemetry, parts, registry)


def _start_endpoint(telemetry: Telemetry, parts: Parts, registry: Any) -> None:
    from pywats_otel._pipeline.endpoint import TelemetryEndpoint

    settings = telemetry.settings
    endpoint = TelemetryEndpoint(
        settings.prometheus_host,
        settings.prometheus_port,
        registry,
        telemetry.health,
        port_setting=where_to_change(settings, "prometheus_port", "PYWATS_OTEL_PROMETHEUS_PORT"),
        host_setting=where_to_change(settings, "prometheus_host", "PYWATS_OTEL_PROMETHEUS_HOST"),
        basic_auth=(
            (settings.endpoint_username, settings.endpoint_password)
            if settings.endpoint_username and settings.endpoint_password
            else None
        ),
        tls=(
            (settings.endpoint_tls_cert, settings.endpoint_tls_key)
            if settings.endpoint_tls_cert and settings.endpoint_tls_key
            else None
        ),
        traces=_traces_responder(parts),
        # A scrape is the Prometheus exporter's export: the endpoint counts it.
        scrape_stats=[
            stats
            for stats in parts.stats["metrics"]
            if _exporters.get(stats.exporter, "metrics").uses_endpoint
        ],
    )
    endpoint.start()
    parts.endpoint = endpoint
    # The description names the port actually bound (port 0 picks one).
    for stats in parts.stats["metrics"]:
        if _exporters.get(stats.exporter, "metrics").uses_endpoint:
            stats.destination = f"prometheus {endpoint.url}/metrics" + (
                "" if endpoint.serving else f" (not serving: {endpoint.error})"
            )
    parts.destinations["metrics"] = [stats.destination for stats in parts.stats["metrics"]]


def where_to_change(settings: TelemetrySettings, name: str, variable: str) -> str:
    """Where the user changes setting ``name``: the source its value came from (a keyword
    argument, a variable, the config file), else ``variable``, as in "set ... to a free port"."""
    source = settings.source_of(name)
    if source.startswith("keyword argument "):
        return f"the keyword argument {name} of init_telemetry()"
    if source.startswith("environment variable "):
        return source.removeprefix("environment variable ")
    if source.startswith("config file "):
        return f"{name} in the {source.partition(' (key ')[0]}"
    return variable


def _traces_responder(parts: Parts) -> Any:
    recent = parts.recent_traces
    if recent is None:
        return None
    from pywats_otel._pipeline import traces_page

    def respond(path: str, accept: str) -> tuple[int, str, bytes]:
        return traces_page.respond(recent, path, accept)

    return respond


def _setup_logs(telemetry: Telemetry, parts: Parts) -> None:
    settings = telemetry.settings
    names = settings.exporters("logs")
    if not names:
        return
    from opentelemetry.sdk._logs import LoggerProvider

    foreign = _foreign("logs", LoggerProvider, "LoggerProvider")
    if foreign is not None:
        parts.logger_provider = foreign
        parts.owned.discard("logs")
        set_before = attach.log_destinations(foreign)
        parts.foreign["logs"] = set_before or ["a LoggerProvider without processors"]
        if attach.has_log_bridge():
            _logger.info(
                "pywats_otel: a handler of the root logger already sends log records to the "
                "LoggerProvider set before init_telemetry(); pywats_otel adds no handler"
            )
            return
        if set_before:
            _left_out("logs", names, set_before)
        else:
            _add_log_exporters(telemetry, parts, foreign, names)
        _add_log_handler(telemetry, parts, foreign)
        return
    provider = LoggerProvider(resource=telemetry.resource, shutdown_on_exit=False)
    _add_log_exporters(telemetry, parts, provider, names)
    parts.logger_provider = provider
    set_logger_provider(provider)
    _add_log_handler(telemetry, parts, provider)


def _add_log_exporters(
    telemetry: Telemetry, parts: Parts, provider: Any, names: tuple[str, ...]
) -> None:
    for name in names:
        spec = _exporters.get(name, "logs")
        context = _context(telemetry, "logs")
        exporter = _build("log exporter", name, "logs", spec.log_exporter, context)
        stats = _stats("logs", name, spec, context, counts_accepted=True)
        processor = CountingBatchLogRecordProcessor(
            CountingLogExporter(exporter, stats), stats, **_log_batch_schedule()
        )
        provider.add_log_record_processor(processor)
        parts.batch_processors.append(processor)
        parts.stats["logs"].append(stats)
        parts.destinations["logs"].append(stats.destination)


def _add_log_handler(telemetry: Telemetry, parts: Parts, provider: Any) -> None:
    from pywats_otel._pipeline.log_handler import TelemetryLogHandler

    handler = TelemetryLogHandler(
        level=logging.getLevelName(telemetry.settings.logs_level), logger_provider=provider
    )
    logging.getLogger().addHandler(handler)
    parts.log_handler = handler


#: The log batch processor's schedule when OTEL_BLRP_SCHEDULE_DELAY does not say: every 5 s,
#: as spans are batched (the SDK's default of 1 s wakes an idle station's log thread 60 times a
#: minute for nothing).
LOG_SCHEDULE_DELAY_MS = 5000


def _log_batch_schedule() -> dict[str, Any]:
    if os.environ.get("OTEL_BLRP_SCHEDULE_DELAY"):
        return {}
    return {"schedule_delay_millis": LOG_SCHEDULE_DELAY_MS}


def _setup_self_observation(telemetry: Telemetry, parts: Parts) -> None:
    """The pipeline's own metrics and the built-in health checks (exporters, disks, URL)."""
    from pywats_otel._pipeline import builtin_checks, self_metrics

    parts.cleanups.append(("pipeline metrics", self_metrics.register(telemetry.export_stats)))
    cardinality.reset()
    parts.cleanups.append(("cardinality metrics", cardinality.observe()))
    parts.cleanups.append(("health checks", builtin_checks.install(telemetry)))


def _setup_instrumentations(telemetry: Telemetry, parts: Parts) -> None:
    for name in telemetry.settings.active_instrumentations():
        undo = _instrumentations.turn_on(name, telemetry.settings)
        if undo is not None:
            parts.instrumentations.append((name, undo))
        elif _instrumentations.instrumented_elsewhere(name):
            parts.instrumented_before.append(name)


def _log_started(telemetry: Telemetry, parts: Parts) -> None:
    settings = telemetry.settings

    def where(signal: str) -> str:
        found = list(parts.destinations[signal])
        if parts.foreign.get(signal) is not None:
            before = ", ".join(parts.foreign[signal]) or "no processor"
            found.insert(0, f"the provider set before pywats_otel ({before})")
        return ", ".join(found) or "none"

    version = f" {settings.service_version}" if settings.service_version else ""
    instrumented = list(telemetry.instrumentations) + [
        f"{name} (instrumented before pywats_otel)" for name in parts.instrumented_before
    ]
    resource = ""
    if "traces" not in parts.owned:
        resource = " (spans carry the resource of the TracerProvider set before pywats_otel)"
    _logger.info(
        "pywats_otel %s: telemetry for %s%s%s: traces -> %s; metrics -> %s; logs -> %s; "
        "instrumentations: %s",
        __version__,
        settings.service_name,
        version,
        resource,
        where("traces"),
        where("metrics"),
        where("logs"),
        ", ".join(instrumented) or "none",
    )
