"""deploy/grafana/dashboard.json: valid, covers what operators watch, and every
metric it queries is one the services' code really exports."""
from __future__ import annotations

import ast
import json
import re

import pytest

from tests.support.deploylib import OWNERS, ROOT, exported_metrics, queried_metrics

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
NEEDED = {  # request rates and latencies, songs/s, batch fill, queue depth, pool size, vote rate
    "web_http_requests_total", "web_http_request_duration_seconds_bucket", "grpc_server_handled_total",
    "grpc_server_handling_seconds_bucket", "generator_songs_total", "generator_batch_fill",
    "generator_queue_depth", "pregen_pool_size", "votes_cast_total",
}


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def test_dashboard_is_well_formed(dashboard):
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"].strip("${}") in variables
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_covers_what_operators_watch(dashboard):
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in queried_metrics(t["expr"])}
    assert NEEDED <= queried


def test_metric_extraction_ignores_labels_and_functions():
    expr = "histogram_quantile(0.95, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket[5m])))"
    assert queried_metrics(expr) == {"grpc_server_handling_seconds_bucket"}


def test_every_queried_metric_is_exported_by_its_service(dashboard):
    exported = exported_metrics(ROOT / "services")
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in queried_metrics(t["expr"])}
    unknown = sorted(queried - exported)
    assert not unknown, f"the dashboard queries metrics no service exports: {unknown}"


# Defined in code another team owns (services/generator/generator/pool.py); to go
# when that file is next changed: rate(generator_tokens_total) says the same.
RATE_GAUGES_LEFT: set[str] = set()


def metric_definitions(code_dir) -> dict[str, str]:
    """{name as written: Counter|Gauge|Histogram|Summary} for every metric under code_dir."""
    found = {}
    for path in code_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                kind = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if kind in ("Counter", "Gauge", "Histogram", "Summary") and re.fullmatch(
                        r"[a-z][a-z0-9_]*", node.args[0].value) and "_" in node.args[0].value:
                    found[node.args[0].value] = kind
    return found


def test_metric_names_follow_prometheus_conventions():
    definitions = metric_definitions(ROOT / "services")
    assert definitions["web_http_request_duration_seconds"] == "Histogram"
    for name, kind in definitions.items():
        assert name.split("_")[0] in OWNERS, f"{name}: prefixed by its service"
        if kind == "Gauge":
            # a rate is rate() of a counter, never a gauge that restates it
            assert not re.search(r"_per_(second|minute|s)$", name) or name in RATE_GAUGES_LEFT, name
        if kind in ("Histogram", "Summary") and ("latency" in name or "time" in name or "seconds" in name):
            assert name.endswith("_seconds"), f"{name}: base unit in the name"
        if kind in ("Histogram", "Summary") and name.endswith("_seconds") and not name.startswith("grpc_"):
            # grpc_server_handling_seconds is the go-grpc-prometheus name, kept for its dashboards
            assert name.endswith("_duration_seconds"), f"{name}: a duration says so"


def test_the_dashboard_never_charts_a_rate_gauge(dashboard):
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in queried_metrics(t["expr"])}
    assert not {m for m in queried if re.search(r"_per_second$", m)}
