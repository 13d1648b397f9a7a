"""Compose, Kubernetes and the local stack agree with each other and with the
services' code: every variable a service reads without a default is set, no
deployment sets a variable its service does not read (a typo or a stale name),
and ports and entry points are the local stack's."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploylib import (
    CONTRACT_ENV,
    METRICS_PORTS,
    ROOT,
    SERVICES,
    compose_env,
    env_reads,
    find,
    load_compose,
    pod_spec,
    render,
    resolve_env,
)

# Variables the platform sets for a runtime rather than for our code.
PLATFORM_ENV = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def deployed_env() -> dict[str, dict[str, dict[str, str | None]]]:
    """{where: {service: env}} for compose, its CPU override and every overlay."""
    compose = load_compose(ROOT / "docker-compose.yml")
    places = {"compose": {n: compose_env(compose["services"][n]) for n in SERVICES}}
    for overlay in ("base", "dev", "gpu"):
        docs = render(overlay)
        places[overlay] = {n: resolve_env(docs, pod_spec(find(docs, "Deployment", n))["containers"][0])
                           for n in SERVICES}
    return places


def launcher_specs():
    from devstack.launcher import Ports, service_specs
    return {s.name: s for s in service_specs(Ports(), "postgresql://pg", "redis://r",
                                             Path("/models/m"), "secret")}


@pytest.mark.parametrize("service", SERVICES)
def test_contract_variables_are_set_everywhere(service):
    for where, env in deployed_env().items():
        missing = CONTRACT_ENV[service] - set(env[service])
        assert not missing, f"{where}/{service} lacks {sorted(missing)}"


@pytest.mark.parametrize("service", SERVICES)
def test_required_variables_the_code_reads_are_set_everywhere(service):
    reads = env_reads(service)
    required = {name for name, needed in reads.items() if needed}
    for where, env in deployed_env().items():
        missing = required - set(env[service])
        assert not missing, f"{where}/{service} lacks required {sorted(missing)}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_set_is_one_the_service_reads(service):
    reads = env_reads(service)
    for where, env in deployed_env().items():
        unknown = set(env[service]) - set(reads) - PLATFORM_ENV
        assert not unknown, f"{where}/{service} sets {sorted(unknown)}, which services/{service} never reads"


def test_env_reader_finds_required_and_optional_reads(tmp_path, monkeypatch):
    from tests.support import deploylib
    package = tmp_path / "services" / "demo" / "demo"
    package.mkdir(parents=True)
    (package / "__main__.py").write_text("")
    (package / "settings.py").write_text(
        "import os\n"
        "from billionsongs.common.settings import env_str, env_int, env_choice\n"
        "a = env_str('NEEDED', env=e)\n"
        "b = env_int('TUNED', 3, e)\n"
        "c = env_choice('MODE', ('x', 'y'), 'x', e)\n"
        "d = env_choice('KIND', ('x', 'y'))\n"
        "f = os.environ.get('PLAIN', '1')\n"
        "g = os.getenv('OTHER')\n")
    monkeypatch.setattr(deploylib, "ROOT", tmp_path)
    assert deploylib.env_reads("demo") == {"NEEDED": True, "TUNED": False, "MODE": False, "KIND": True,
                                           "PLAIN": False, "OTHER": False}
    with pytest.raises(AssertionError, match="services/absent/absent"):
        deploylib.env_reads("absent")


@pytest.mark.parametrize("service", SERVICES)
def test_deployments_set_every_variable_the_local_stack_sets(service):
    spec = launcher_specs()[service]
    for where, env in deployed_env().items():
        missing = set(spec.env) - set(env[service])
        assert not missing, f"{where}/{service} lacks {sorted(missing)} (set by devstack/launcher.py)"


def test_ports_are_the_local_stacks():
    from devstack.launcher import Ports
    ports = Ports()
    specs = launcher_specs()
    expected = {
        "generator": {"GENERATOR_LISTEN": ports.generator, "METRICS_PORT": ports.generator_metrics},
        "votes": {"VOTES_LISTEN": ports.votes, "METRICS_PORT": ports.votes_metrics},
        "pregen": {"METRICS_PORT": ports.pregen_metrics},
        "web": {"WEB_BIND": ports.web, "METRICS_PORT": ports.web_metrics},
    }
    assert ports.web_metrics == METRICS_PORTS["web"] != ports.web, "web's metrics are off the public port"
    for where, env in deployed_env().items():
        for service, settings in expected.items():
            for name, port in settings.items():
                value = env[service][name]
                assert value.rsplit(":", 1)[-1] == str(port), f"{where}/{service} {name}={value}"
                assert specs[service].env[name].rsplit(":", 1)[-1] == str(port)
        for client in ("web", "pregen"):
            assert env[client]["GENERATOR_TARGET"].endswith(f":{ports.generator}")
            assert env[client]["VOTES_TARGET"].endswith(f":{ports.votes}")


def test_compose_and_kubernetes_agree_on_shared_settings():
    places = deployed_env()
    compose, k8s = places["compose"], places["gpu"]
    for service in SERVICES:
        for name in ("GENERATOR_TARGET", "VOTES_TARGET", "REDIS_URL", "POOL_USES", "GENERATOR_WORKER_MODE",
                     "LOG_FORMAT"):
            if name in compose[service]:
                assert compose[service][name] == k8s[service][name], f"{service} {name}"
