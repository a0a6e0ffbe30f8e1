"""The deploy stack in deploy/: promtool accepts the Prometheus files, the alert unit tests pass,
the dashboard and rules query only metrics the package emits, and the configs fit together.

There is no container engine in the tests: docker-compose.yml and the collector, Grafana and
Prometheus configs are checked as data (services, ports, mounts, pipelines), the PromQL with
promtool. ``queried_metric_names()`` is the set of names the dashboard and the rules query,
for a check against a real scrape.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pywats_otel import semconv
from pywats_otel._config.loader import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
COLLECTOR = DEPLOY / "otel-collector" / "config.yaml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "station-health.json"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
DOCKERFILE = DEPLOY / "station" / "Dockerfile"
OPERATIONS = ROOT / "docs" / "operations.md"

STATION_JOB = "pywats-stations"
#: Queried series that are no instrument: up, which Prometheus adds to every target (a scrape
#: does not serve it), and target_info, which /metrics serves with the resource attributes
#: (service_name among them).
ADDED_BY_PROMETHEUS = frozenset({"up"})
NON_INSTRUMENT_SERIES = ADDED_BY_PROMETHEUS | {"target_info"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# -- the metric names a PromQL expression queries ------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_MODIFIER = re.compile(r"\boffset\s+-?[\w.]+|@\s*(?:start\(\)|end\(\)|[\d.]+)")
_TOKEN = re.compile(
    # A number first, so that the exponent of 1e3 or the unit of 5m is not read as a name.
    r"(?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[a-z]*)"
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "inf", "nan", "atan2"})
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*$", re.DOTALL)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords, labels or values).

    Strings, label matchers ``{...}``, ranges ``[...]`` and label lists of by/without/on/
    ignoring/group_left/group_right go first; of what is left, a name followed by ``(`` is a
    function or an aggregation, and every other name that is not an operator keyword is a
    metric. Grafana's ``label_values(selector, label)`` gives the names of its selector.
    """
    match = _LABEL_VALUES.match(expr)
    if match:
        expr = match.group(1)
    text = _STRING.sub(" ", expr)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    text = _LABEL_MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _MODIFIER.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name and not token.group("call") and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def dashboard_queries(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Every PromQL expression of the dashboard: Prometheus targets and query variables."""
    dashboard = dashboard if dashboard is not None else json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"]
        for panel in _all_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type") == "prometheus"
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def rule_queries() -> list[str]:
    """The ``expr`` of every rule in alerts.yml."""
    return [rule["expr"] for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def queried_metric_names() -> set[str]:
    """Every metric name the dashboard and the alerting rules query, as written (a histogram
    with its _bucket/_sum/_count suffix). A scrape of a station must serve each of them but
    those of ADDED_BY_PROMETHEUS."""
    return {
        name for expr in dashboard_queries() + rule_queries() for name in promql_metric_names(expr)
    }


def metric_family(name: str) -> str:
    """``name`` without a histogram's _bucket/_sum/_count suffix, when it has one."""
    histograms = {
        semconv.prometheus_name(metric) for metric in semconv.METRICS if metric.kind == "histogram"
    }
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in histograms:
            return name.removesuffix(suffix)
    return name


def emitted_prometheus_names() -> set[str]:
    """The series names /metrics serves for semconv.METRICS, plus up and target_info."""
    names = set(NON_INSTRUMENT_SERIES)
    for metric in semconv.METRICS:
        name = semconv.prometheus_name(metric)
        if metric.kind == "histogram":
            names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
        else:
            names.add(name)
    return names


def _all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # the panels of a collapsed row


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


# -- the extractor itself ------------------------------------------------------------------


def test_extractor_reads_metric_names_and_skips_functions_labels_and_values() -> None:
    """Names inside strings, label matchers, ranges and by/on/group_left lists, functions,
    keywords and numbers with exponents or units are not taken for metric names."""
    expr = (
        'histogram_quantile(0.95, sum by (le, instance) (rate(x_seconds_bucket{job="a", '
        'state=~"fail|timeout"}[$__rate_interval]))) > 1e3 and on (instance) group_left '
        "(service_name) target_info unless count without (cpu_mode) (y offset 5m) == bool 0x1F "
        "or sum(z) by (le) or vector(1) * inf"
    )
    assert promql_metric_names(expr) == {"x_seconds_bucket", "target_info", "y", "z"}
    assert promql_metric_names('label_values(target_info{job="$job"}, service_name)') == {
        "target_info"
    }


def test_check_against_semconv_catches_a_name_the_package_does_not_emit() -> None:
    """A misspelt or unit-less name in an expression is outside the set the package emits."""
    expr = "sum(rate(pywats_converter_executions[5m])) / sum(pywats_queue_depthh)"
    assert promql_metric_names(expr) - emitted_prometheus_names() == {
        "pywats_converter_executions",
        "pywats_queue_depthh",
    }
    assert metric_family("http_client_request_duration_seconds_bucket") == (
        "http_client_request_duration_seconds"
    )
    assert metric_family("pywats_queue_depth") == "pywats_queue_depth"


# -- every queried name is emitted ---------------------------------------------------------


def test_dashboard_and_rules_query_only_metrics_the_package_emits() -> None:
    """Each metric name of a dashboard target, a dashboard variable or a rule is a Prometheus
    name of semconv.METRICS (histograms with _bucket/_sum/_count), up or target_info."""
    queried = queried_metric_names()
    assert len(queried) >= 15
    assert queried - emitted_prometheus_names() == set()


def test_dashboard_shows_each_part_of_station_health() -> None:
    """The dashboard queries the queue, converters, uploads, CPU, memory, disk, telemetry
    export and health check metrics."""
    families = {
        metric_family(name) for expr in dashboard_queries() for name in promql_metric_names(expr)
    }
    names = {metric.name: semconv.prometheus_name(metric) for metric in semconv.METRICS}
    expected = {
        names[semconv.QUEUE_DEPTH],
        names[semconv.QUEUE_WAIT_DURATION],
        names[semconv.CONVERTER_EXECUTIONS],
        names[semconv.HTTP_CLIENT_REQUEST_DURATION],
        names[semconv.PROCESS_CPU_UTILIZATION],
        names[semconv.SYSTEM_CPU_UTILIZATION],
        names[semconv.PROCESS_MEMORY_USAGE],
        names[semconv.SYSTEM_MEMORY_UTILIZATION],
        names[semconv.SYSTEM_FILESYSTEM_UTILIZATION],
        names[semconv.OTEL_EXPORT_FAILURES],
        names[semconv.OTEL_EXPORT_LAST_SUCCESS_TIME],
        names[semconv.HEALTH_CHECK_STATUS],
        "up",
        "target_info",
    }
    assert expected - families == set()


def test_upload_latency_panel_shows_p50_p95_p99_of_the_http_histogram() -> None:
    """The upload latency panel takes quantiles 0.5, 0.95 and 0.99 of the http.client
    duration buckets."""
    dashboard = json.loads(DASHBOARD.read_text())
    [panel] = [p for p in _all_panels(dashboard) if p["title"].startswith("Upload latency")]
    quantiles = [
        re.match(
            r"histogram_quantile\(([\d.]+), .*http_client_request_duration_seconds_bucket",
            t["expr"],
        )
        for t in panel["targets"]
    ]
    assert [float(q.group(1)) for q in quantiles if q] == [0.5, 0.95, 0.99]


# -- promtool ------------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config_and_its_rule_file(promtool: str) -> None:
    """promtool check config accepts prometheus.yml and finds alerts.yml beside it."""
    result = _run(promtool, "check", "config", str(PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert f"SUCCESS: {len(rule_queries())} rules found" in result.stdout


def test_promtool_accepts_the_alerting_rules_with_every_lint(promtool: str) -> None:
    """promtool check rules accepts alerts.yml with all lints fatal."""
    result = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_queries())} rules found" in result.stdout


def test_alert_unit_tests_pass(promtool: str) -> None:
    """promtool test rules runs alerts.test.yml: station down and disk nearly full fire, a
    converter failure ratio, a critical health check and a stale exporter too."""
    tested = {
        case["alertname"]
        for test in load_yaml(ALERTS_TEST)["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert {"PywatsStationDown", "PywatsDiskNearlyFull"} <= tested
    result = _run(promtool, "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_dashboard_expression_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each dashboard query, with Grafana's variables filled in, passes promtool as the
    expression of a recording rule."""
    values = {
        "$job": STATION_JOB,
        "$instance": ".*",
        "$service_name": ".*",
        "$__rate_interval": "1m",
        "$__range": "1h",
    }
    rules = []
    for index, query in enumerate(dashboard_queries()):
        match = _LABEL_VALUES.match(query)
        expr = match.group(1) if match else query
        for variable, value in values.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_prometheus_snippets_of_the_operations_guide_are_valid(
    promtool: str, tmp_path: Path
) -> None:
    """Every Prometheus configuration in docs/operations.md passes promtool's syntax check."""
    blocks = re.findall(r"```yaml\n(.*?)```", OPERATIONS.read_text(), re.DOTALL)
    configs = [block for block in blocks if block.startswith("scrape_configs:")]
    assert len(configs) >= 3
    for index, config in enumerate(configs):
        path = tmp_path / f"snippet-{index}.yml"
        path.write_text(config)
        result = _run(promtool, "check", "config", "--syntax-only", str(path))
        assert result.returncode == 0, config + result.stdout + result.stderr


# -- alerting rules ------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "PywatsStationDown": "critical",
    "PywatsQueueGrowing": "warning",
    "PywatsQueueWaitHigh": "warning",
    "PywatsConverterFailureRatio": "warning",
    "PywatsDiskNearlyFull": "warning",
    "PywatsTelemetryExportFailing": "warning",
    "PywatsTelemetryExportStale": "warning",
    "PywatsCriticalHealthCheckFailing": "critical",
    "PywatsHealthCheckFailing": "warning",
}


def test_each_alert_has_a_duration_a_severity_and_names_the_station() -> None:
    """Every rule is an alert with for:, a severity label, a summary and a description that
    names the instance; the set is the one the operations guide documents."""
    rules = [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]
    assert {rule["alert"]: rule["labels"]["severity"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert "{{ $labels.instance }}" in rule["annotations"]["summary"], rule["alert"]
        assert "{{ $labels.instance }}" in rule["annotations"]["description"], rule["alert"]


def test_station_down_alert_selects_the_job_prometheus_scrapes_the_stations_with() -> None:
    """PywatsStationDown's up{job=...} is the job name of the stations' scrape config."""
    [down] = [
        rule
        for group in load_yaml(ALERTS)["groups"]
        for rule in group["rules"]
        if rule["alert"] == "PywatsStationDown"
    ]
    jobs = [job["job_name"] for job in load_yaml(PROMETHEUS)["scrape_configs"]]
    assert down["expr"] == f'up{{job="{STATION_JOB}"}} == 0'
    assert STATION_JOB in jobs


def test_operations_guide_has_a_runbook_entry_for_each_alert() -> None:
    """docs/operations.md has a heading for each alert of alerts.yml."""
    headings = re.findall(r"^#### `(\w+)`", OPERATIONS.read_text(), re.MULTILINE)
    assert sorted(headings) == sorted(EXPECTED_ALERTS)


# -- dashboard -----------------------------------------------------------------------------


def test_dashboard_is_valid_json_with_unique_ids_and_a_datasource_on_every_target() -> None:
    """station-health.json parses; panel ids are unique; each non-row panel has targets, and
    each target a Prometheus datasource, a refId unique in its panel and an expression."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = list(_all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)) >= 20
    assert dashboard["uid"] == "pywats-station-health"
    assert dashboard["title"] == "Station health"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert target["expr"].strip(), panel["title"]


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    """Every panel lies within Grafana's 24 columns and no two panels share a cell."""
    cells: dict[tuple[int, int], str] = {}
    for panel in _all_panels(json.loads(DASHBOARD.read_text())):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_dashboard_selects_stations_by_service_name_and_instance() -> None:
    """The service_name variable reads target_info, the instance variable is filtered by it,
    and every query of a panel filters on job and instance."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == "prometheus"
    assert variables["job"]["query"] == STATION_JOB
    assert (
        variables["service_name"]["query"] == 'label_values(target_info{job="$job"}, service_name)'
    )
    assert variables["instance"]["query"] == (
        'label_values(target_info{job="$job", service_name=~"$service_name"}, instance)'
    )
    for name in ("service_name", "instance"):
        assert variables[name]["multi"] is True
        assert variables[name]["includeAll"] is True
    for panel in _all_panels(dashboard):
        for target in panel.get("targets", []):
            for selector in re.findall(r"\b[a-z_]+\{[^}]*\}", target["expr"]):
                assert 'job="$job", instance=~"$instance"' in selector, (panel["title"], selector)


# -- docker-compose.yml --------------------------------------------------------------------

#: service -> (host port, container port) it publishes on 127.0.0.1, as docs/operations.md
#: lists them.
PUBLISHED = {
    "station": {("9090", "9090")},
    "prometheus": {("9091", "9090")},
    "grafana": {("3000", "3000")},
    "jaeger": {("16686", "16686")},
    "otel-collector": {("4317", "4317"), ("4318", "4318")},
}


def test_compose_has_the_documented_services_with_pinned_images() -> None:
    """The stack has the station, collector (contrib), Jaeger, Prometheus and Grafana; every
    image has a version tag, not latest."""
    services = load_yaml(COMPOSE)["services"]
    assert set(services) == set(PUBLISHED)
    images = {name: service["image"] for name, service in services.items()}
    assert images["otel-collector"].startswith("otel/opentelemetry-collector-contrib:")
    for name, image in images.items():
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+|dev", tag), (name, image)
    assert "build" in services["station"]


def test_compose_publishes_the_documented_ports_on_loopback_only() -> None:
    """Each service publishes the host ports the docs list, bound to 127.0.0.1; Prometheus's
    own 9090 is published as 9091 beside the station's 9090."""
    services = load_yaml(COMPOSE)["services"]
    for name, expected in PUBLISHED.items():
        published = set()
        for port in services[name]["ports"]:
            address, host, container = port.split(":")
            assert address == "127.0.0.1", (name, port)
            published.add((host, container))
        assert published == expected, name
    text = OPERATIONS.read_text()
    for name, ports in PUBLISHED.items():
        for host, _ in ports:
            assert f"localhost:{host}" in text or f"`{host}`" in text, (name, host)


def test_compose_mounts_only_files_that_exist_in_deploy() -> None:
    """Every bind mount's source and the station's build context and Dockerfile exist."""
    services = load_yaml(COMPOSE)["services"]
    sources = [
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert len(sources) >= 4
    for source in sources:
        path = (DEPLOY / source).resolve()
        assert path.is_relative_to(DEPLOY), source
        assert path.exists(), source
    build = services["station"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_station_service_runs_the_demo_until_stopped_and_exports_to_the_collector() -> None:
    """The station runs `pywats-otel demo --duration 0`, sends OTLP to otel-collector:4317,
    and its environment passes pywats_otel's settings validation."""
    station = load_yaml(COMPOSE)["services"]["station"]
    command = station["command"]
    assert command[:3] == ["demo", "--duration", "0"]
    assert "--rate" in command
    assert "--failure-rate" in command
    environment = {key: str(value) for key, value in station["environment"].items()}
    settings = load_settings(environ=environment)
    assert settings.otlp_endpoint == "http://otel-collector:4317"
    assert settings.prometheus_host == "0.0.0.0"
    assert settings.prometheus_port == 9090
    assert settings.exporters("traces") == ("otlp",)
    assert settings.exporters("metrics") == ("prometheus", "otlp")
    assert settings.exporters("logs") == ("otlp",)
    assert [str(path) for path in settings.disk_paths] == ["/var/lib/pywats"]
    assert "/var/lib/pywats" in [volume.split(":")[1] for volume in station["volumes"]]


def test_dockerfile_installs_the_package_from_the_repository_and_runs_pywats_otel() -> None:
    """Each COPY source of the station's Dockerfile exists at the repository root and is let
    through by its .dockerignore; the image pip-installs it and its entry point is the CLI."""
    text = DOCKERFILE.read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    ]
    allowed = {
        line[1:]
        for line in (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert {"pyproject.toml", "pywats_otel"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source in allowed, source
    assert re.search(r"^RUN pip install --constraint constraints.txt \.", text, re.MULTILINE)
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-", text, re.MULTILINE)
    assert 'ENTRYPOINT ["pywats-otel"]' in text


# -- Prometheus, collector and Grafana configs fit the compose services --------------------


def _service_ports() -> dict[str, set[str]]:
    """host:port pairs reachable inside the compose network, per service."""
    collector = load_yaml(COLLECTOR)
    [reader] = collector["service"]["telemetry"]["metrics"]["readers"]
    return {
        "station": {"station:9090"},
        "otel-collector": {
            "otel-collector:4317",
            "otel-collector:4318",
            f"otel-collector:{reader['pull']['exporter']['prometheus']['port']}",
        },
        "jaeger": {"jaeger:4317", "jaeger:16686"},
        "prometheus": {"prometheus:9090", "localhost:9090"},
    }


def test_prometheus_scrapes_the_station_and_collector_at_their_compose_addresses() -> None:
    """The stations' job scrapes station:9090, relabels instance to the host name, and every
    target is a compose service's port."""
    config = load_yaml(PROMETHEUS)
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    [station_targets] = jobs[STATION_JOB]["static_configs"]
    assert station_targets["targets"] == ["station:9090"]
    [relabel] = jobs[STATION_JOB]["relabel_configs"]
    assert relabel["target_label"] == "instance"
    assert (
        re.sub(relabel["regex"], relabel["replacement"].replace("$1", r"\1"), "station:9090")
        == "station"
    )
    reachable = set().union(*_service_ports().values())
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            assert set(static["targets"]) <= reachable, job["job_name"]


def test_collector_receives_otlp_grpc_and_http_and_sends_traces_to_jaeger() -> None:
    """The collector's OTLP receiver listens on 0.0.0.0:4317 (gRPC) and :4318 (HTTP); the
    traces pipeline ends in an OTLP exporter to jaeger:4317; logs reach the debug exporter."""
    config = load_yaml(COLLECTOR)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    [traces_exporter] = pipelines["traces"]["exporters"]
    assert traces_exporter.split("/")[0] == "otlp_grpc"
    assert config["exporters"][traces_exporter]["endpoint"] == "jaeger:4317"
    assert [name.split("/")[0] for name in pipelines["logs"]["exporters"]] == ["debug"]


def test_collector_pipelines_use_only_defined_components() -> None:
    """Each receiver, processor and exporter a pipeline names, and each service extension,
    is defined; memory_limiter comes first in every pipeline."""
    config = load_yaml(COLLECTOR)
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in config[kind], (name, kind, component)
        assert pipeline["processors"][0] == "memory_limiter", name
    for extension in config["service"]["extensions"]:
        assert extension in config["extensions"]


def test_collector_does_not_forward_metrics_that_prometheus_already_scrapes() -> None:
    """No pipeline ends in a Prometheus exporter: the station's series are stored once, from
    the scrape, not a second time from OTLP."""
    config = load_yaml(COLLECTOR)
    exporters = {
        name.split("/")[0]
        for pipeline in config["service"]["pipelines"].values()
        for name in pipeline["exporters"]
    }
    assert exporters.isdisjoint({"prometheus", "prometheusremotewrite", "otlp_http", "otlphttp"})
    assert [
        name.split("/")[0] for name in config["service"]["pipelines"]["metrics"]["exporters"]
    ] == ["debug"]


def test_exemplars_go_from_the_scrape_to_jaeger() -> None:
    """Prometheus stores exemplars (the feature flag and a buffer), the Prometheus data source
    links an exemplar's trace_id to the Jaeger data source, and each latency panel of the
    station's histograms shows exemplars on one query."""
    prometheus = load_yaml(COMPOSE)["services"]["prometheus"]
    assert "--enable-feature=exemplar-storage" in prometheus["command"]
    assert load_yaml(PROMETHEUS)["storage"]["exemplars"]["max_exemplars"] >= 10000
    sources = {
        source["type"]: source
        for source in load_yaml(GRAFANA_PROVISIONING / "datasources" / "datasources.yml")[
            "datasources"
        ]
    }
    assert sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": sources["jaeger"]["uid"]}
    ]
    dashboard = json.loads(DASHBOARD.read_text())
    with_exemplars = {
        panel["title"]: [t["refId"] for t in panel["targets"] if t.get("exemplar")]
        for panel in _all_panels(dashboard)
        if any("_bucket" in t.get("expr", "") for t in panel.get("targets", []))
    }
    assert with_exemplars == {
        "Queue wait time p50 / p95": ["A"],
        "Processing time p95": ["A"],
        "Converter duration p95": ["A"],
        "Upload latency p50 / p95 / p99": ["A"],
        # Health checks run outside any span: their observations carry no exemplar.
        "Health check duration p95": [],
    }


def test_grafana_provisions_prometheus_jaeger_and_the_dashboard_folder() -> None:
    """The data sources point at the compose services with the UIDs the dashboard uses, and
    the dashboard provider reads the folder compose mounts station-health.json into."""
    sources = {
        source["type"]: source
        for source in load_yaml(GRAFANA_PROVISIONING / "datasources" / "datasources.yml")[
            "datasources"
        ]
    }
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["prometheus"]["uid"] == "prometheus"
    assert sources["prometheus"]["isDefault"] is True
    assert sources["jaeger"]["url"] == "http://jaeger:16686"
    [provider] = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "dashboards.yml")["providers"]
    grafana = load_yaml(COMPOSE)["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"] if volume.startswith("."))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    interval = load_yaml(PROMETHEUS)["global"]["scrape_interval"]
    assert sources["prometheus"]["jsonData"]["timeInterval"] == interval


def test_a_real_scrape_of_the_demo_station_serves_every_queried_metric(tmp_path: Path) -> None:
    """Run the demo station in-process and scrape /metrics as Prometheus would, repeatedly:
    every name the dashboard and the rules query is served (up is Prometheus's own)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from pywats_otel import init_telemetry
    from pywats_otel._tools.demo.station import DemoOptions, Station

    station = Station(
        DemoOptions(duration_s=2.0, rate=20, failure_rate=0.4, seed=3, drain_s=3.0), tmp_path
    )
    telemetry = init_telemetry(
        service_name="deploy-test-station",
        prometheus_host="127.0.0.1",
        prometheus_port=0,
        health_check_url=station.health_url,
        disk_paths=str(tmp_path),
    )
    try:
        station.run()
        # The health checks' metrics appear once checks have run, and an exporter's last
        # success time once there was one (for Prometheus: a scrape); Prometheus scrapes every
        # few seconds, so the second scrape is what it keeps seeing.
        assert telemetry.endpoint is not None
        with urllib.request.urlopen(f"{telemetry.endpoint.url}/health", timeout=10):
            pass
        for _ in range(2):
            with urllib.request.urlopen(telemetry.metrics_url, timeout=10) as response:
                text = response.read().decode()
    finally:
        station.close()
        station.stop_server()
    served = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    missing = queried_metric_names() - ADDED_BY_PROMETHEUS - served
    assert missing == set(), f"queried but not served by the demo: {sorted(missing)}"
