"""docker-compose.yml (and its CPU override) against the Compose specification
and the local stack's settings."""
from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from tests.support.deploylib import (
    CONTRACT_ENV,
    GRPC_PORTS,
    METRICS_PORTS,
    ROOT,
    SERVICES,
    WEB_PORT,
    compose_env,
    load_compose,
    merge_compose,
)

COMPOSE = ROOT / "docker-compose.yml"
CPU_OVERRIDE = ROOT / "docker-compose.cpu.yml"


def compose_schema() -> dict:
    # The Compose specification's schema as vendored (from SchemaStore) by the
    # check-jsonschema package, so validation needs no network.
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    return json.loads(text)


@pytest.fixture(scope="module")
def compose():
    return load_compose(COMPOSE)


@pytest.fixture(scope="module")
def compose_cpu(compose):
    return merge_compose(compose, load_compose(CPU_OVERRIDE))


def _validate(document):
    schema = compose_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(document)


def test_compose_file_matches_the_compose_spec(compose):
    _validate(compose)


def test_cpu_variant_matches_the_compose_spec_and_has_no_gpu(compose, compose_cpu):
    _validate(compose_cpu)
    assert compose["services"]["generator"]["deploy"]["resources"]["reservations"]["devices"][0][
        "capabilities"] == ["gpu"]
    generator = compose_cpu["services"]["generator"]
    assert "deploy" not in generator
    assert compose_env(generator)["GENERATOR_DEVICE"] == "cpu"


def test_schema_check_catches_a_bad_file(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["depends_on"]["votes"]["condition"] = "when_it_feels_like_it"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_topology_and_official_images(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "votes", "generator", "pregen", "web", "cdn", "prometheus"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("valkey/valkey:9.")  # the key-value server, as make run
    assert services["cdn"]["image"].startswith("nginx:")
    for name in ("postgres", "redis", "cdn", "prometheus"):
        tag = services[name]["image"].split(":", 1)[1]
        assert tag != "latest" and any(ch.isdigit() for ch in tag), f"{name} image not pinned"
    for name in SERVICES:
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert services[name]["build"]["context"] == "."


def test_every_service_has_a_healthcheck_and_starts_after_healthy_dependencies(compose):
    services = compose["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in services[dependency]
    assert set(services["votes"]["depends_on"]) == {"postgres"}
    assert set(services["web"]["depends_on"]) == {"generator", "votes", "redis"}
    assert set(services["pregen"]["depends_on"]) == {"generator", "votes", "redis"}
    assert set(services["cdn"]["depends_on"]) == {"web"}


def test_stateful_services_keep_their_data_in_volumes(compose):
    # postgres 18 images: one volume at /var/lib/postgresql, data in 18/docker inside it
    for name, path in (("postgres", "/var/lib/postgresql"), ("redis", "/data")):
        mounts = compose["services"][name]["volumes"]
        volume = next(m.split(":")[0] for m in mounts if m.split(":")[1] == path)
        assert volume in compose["volumes"]


def test_service_containers_are_hardened(compose):
    for name in SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert not service["user"].startswith("0"), name
        assert "/tmp" in service["tmpfs"], name


def test_environment_agrees_with_the_ports_and_targets(compose):
    services = compose["services"]
    env = {name: compose_env(services[name]) for name in SERVICES}
    for name, port in GRPC_PORTS.items():
        assert env[name][f"{name.upper()}_LISTEN"] == f"0.0.0.0:{port}"
        assert str(port) in services[name]["expose"]
        assert services[name]["healthcheck"]["test"][-1] == f"127.0.0.1:{port}"
        for client in ("web", "pregen"):
            assert env[client][f"{name.upper()}_TARGET"] == f"dns:///{name}:{port}"
    for name in ("generator", "votes", "pregen", "web"):
        assert env[name]["METRICS_PORT"] == str(METRICS_PORTS[name])
        assert str(METRICS_PORTS[name]) in services[name]["expose"]
        published = [str(p).split(":")[-1] for p in services[name].get("ports", [])]
        assert str(METRICS_PORTS[name]) not in published, f"{name}: metrics published on the host"
    assert env["web"]["WEB_BIND"] == f"0.0.0.0:{WEB_PORT}"
    assert services["web"]["healthcheck"]["test"][-1] == f"http://127.0.0.1:{WEB_PORT}/healthz"
    assert env["pregen"]["REDIS_URL"] == env["web"]["REDIS_URL"] == "redis://redis:6379/0"
    assert "@postgres:5432/" in env["votes"]["DATABASE_URL"]
    assert env["web"]["SECRET_KEY"].startswith("${SECRET_KEY:?"), "the secret comes from the operator"


def test_cdn_serves_the_nginx_template_in_front_of_web(compose):
    cdn = compose["services"]["cdn"]
    assert any(v.startswith("./deploy/nginx/cdn.conf.template:/etc/nginx/templates/") for v in cdn["volumes"])
    assert compose_env(cdn)["WEB_ORIGIN"] == f"web:{WEB_PORT}"
    assert (ROOT / "deploy" / "nginx" / "cdn.conf.template").exists()


@pytest.mark.parametrize("name", SERVICES)
def test_contract_environment_is_set(compose, name):
    missing = CONTRACT_ENV[name] - set(compose_env(compose["services"][name]))
    assert not missing
