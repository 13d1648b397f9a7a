"""The alert rules (deploy/k8s/base/alerts.yml): valid for Prometheus
(`promtool check rules`, Debian's prometheus package), each alert fires on the
series that mean trouble and not on healthy ones (`promtool test rules`), they
cover what operators must hear about, query only metrics the services export,
and both deployments load them."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.deploylib import ROOT, exported_metrics, find, load_compose, queried_metrics, render

RULES = ROOT / "deploy" / "k8s" / "base" / "alerts.yml"
CASES = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
NEEDED = {"GeneratorDown", "GeneratorSlow", "PoolRunningDry", "VotesErrors", "PostgresUnreachable"}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool not found: apt-get install prometheus (make system-deps)"
    return found


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_check_rules():
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_catches_a_broken_rule(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(up{job=\n")
    assert subprocess.run([promtool(), "check", "rules", str(bad)], capture_output=True, timeout=60).returncode


def test_alerts_fire_on_trouble_and_stay_quiet_otherwise():
    result = subprocess.run([promtool(), "test", "rules", str(CASES)], capture_output=True, text=True,
                            timeout=120, cwd=CASES.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_operators_need_with_severity_and_description():
    by_name = {r["alert"]: r for r in rules()}
    assert NEEDED <= set(by_name)
    for rule in by_name.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alerts_query_only_exported_metrics():
    exported = exported_metrics(ROOT / "services") | {"up"}
    for rule in rules():
        unknown = queried_metrics(re.sub(r"\{[^}]*\}", "", rule["expr"])) - exported  # no label names
        assert not unknown, f"{rule['alert']} queries {unknown}"


def test_both_deployments_load_the_rules():
    docs = render("gpu")
    config_map = find(docs, "ConfigMap", "billionsongs-prometheus-rules")
    assert yaml.safe_load(config_map["data"]["alerts.yml"]) == yaml.safe_load(RULES.read_text())
    prometheus = load_compose(ROOT / "docker-compose.yml")["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    assert mounts["/etc/prometheus/alerts.yml"] == "./deploy/k8s/base/alerts.yml"
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in config["scrape_configs"]}
    from tests.support.deploylib import METRICS_PORTS
    assert jobs == {name: f"{name}:{port}" for name, port in METRICS_PORTS.items()}


@pytest.mark.parametrize("tool_args", [["check", "config"]])
def test_promtool_checks_the_compose_prometheus_config(tmp_path, tool_args):
    # as mounted in the container: the config and alerts.yml side by side
    shutil.copy(PROMETHEUS_CONFIG, tmp_path / "prometheus.yml")
    shutil.copy(RULES, tmp_path / "alerts.yml")
    result = subprocess.run([promtool(), *tool_args, str(tmp_path / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
