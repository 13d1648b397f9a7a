"""The Kubernetes manifests, rendered by kustomize and checked offline: schemas,
the restricted Pod Security Standard, probes, ports, labels, GPU placement,
network paths."""
from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
import yaml

from tests.support.deploylib import (
    GRPC_PORTS,
    K8S,
    KUBERNETES_VERSION,
    METRICS_PORTS,
    PATHS,
    SERVICES,
    WEB_PORT,
    container_port,
    find,
    pod_spec,
    render,
    resolve_env,
    workloads,
)

OVERLAYS = ("base", "dev", "gpu")
COMPONENTS = ("web", "generator", "votes", "pregen", "postgres", "redis")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_matches_the_kubernetes_schema(overlay):
    docs = render(overlay)
    assert len(docs) > 20
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_typo():
    deployment = copy.deepcopy(find(render("base"), "Deployment", "web"))
    pod_spec(deployment)["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_one_manifest_file_per_component():
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    for component in COMPONENTS:
        assert f"{component}.yaml" in base["resources"]
        names = {d["metadata"]["labels"]["app.kubernetes.io/name"]
                 for d in yaml.safe_load_all((K8S / "base" / f"{component}.yaml").read_text()) if d}
        assert names == {component}, f"{component}.yaml holds {names}"


# --- Pod Security Standard "restricted" (plus a read-only root) ---------------

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret", "name"}


def restricted_violations(workload: dict) -> list[str]:
    """Why a workload's pods break the restricted profile (empty: they meet it)."""
    name = workload["metadata"]["name"]
    spec = pod_spec(workload)
    pod_sc = spec.get("securityContext") or {}
    problems = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{name}: {flag}")
    for volume in spec.get("volumes", []):
        if set(volume) - ALLOWED_VOLUMES:
            problems.append(f"{name}: volume {volume['name']} of type {set(volume) - ALLOWED_VOLUMES}")
    if pod_sc.get("runAsUser") == 0:
        problems.append(f"{name}: pod runs as uid 0")
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext") or {}
        where = f"{name}/{c['name']}"
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) in (0, None):
            problems.append(f"{where}: no non-zero runAsUser")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile is {seccomp}")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds capabilities {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_the_restricted_profile(overlay):
    docs = render(overlay)
    assert len(workloads(docs)) == 6
    problems = [p for w in workloads(docs) for p in restricted_violations(w)]
    assert problems == []


def test_the_namespace_enforces_restricted():
    namespace = find(render("gpu"), "Namespace", "billionsongs")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("breakage, expected", [
    (lambda c, p: c["securityContext"].pop("readOnlyRootFilesystem"), "root filesystem is writable"),
    (lambda c, p: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "drop ALL"),
    (lambda c, p: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    (lambda c, p: p["securityContext"].pop("seccompProfile"), "seccompProfile"),
    (lambda c, p: p["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    (lambda c, p: p.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "hostPath"),
])
def test_the_restricted_check_catches_each_breakage(breakage, expected):
    workload = copy.deepcopy(find(render("base"), "Deployment", "generator"))
    spec = pod_spec(workload)
    breakage(spec["containers"][0], spec)
    assert any(expected in p for p in restricted_violations(workload))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_limits_and_three_probes(overlay):
    for workload in workloads(render(overlay)):
        for c in pod_spec(workload)["containers"]:
            where = f"{workload['metadata']['name']}/{c['name']}"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where}: {kind}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{where}: no {probe}"


# --- probes and ports target what the services serve ------------------------

def test_grpc_services_use_native_grpc_probes_on_their_listen_port():
    docs = render("gpu")
    for name, port in GRPC_PORTS.items():
        c = pod_spec(find(docs, "Deployment", name))["containers"][0]
        listen = resolve_env(docs, c)[f"{name.upper()}_LISTEN"]
        assert listen == f"0.0.0.0:{port}"
        assert container_port(c, "grpc") == port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == port, f"{name} {probe}"


def test_web_probes_hit_health_paths_web_serves():
    from tests.support.deploylib import web_routes
    docs = render("gpu")
    c = pod_spec(find(docs, "Deployment", "web"))["containers"][0]
    env = resolve_env(docs, c)
    assert env["WEB_BIND"] == f"0.0.0.0:{WEB_PORT}"
    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert container_port(c, get["port"]) == WEB_PORT
        paths[probe] = get["path"]
    # a dependency's outage must not take every web pod out of the Service
    assert paths == {"startupProbe": "/healthz", "readinessProbe": "/healthz", "livenessProbe": "/healthz"}
    routes = web_routes()
    if routes is not None:  # web has landed: it must really serve them, and no /metrics on the site's port
        assert {"/healthz", "/readyz"} <= routes and "/metrics" not in routes


def test_pregen_probes_its_metrics_port():
    docs = render("gpu")
    c = pod_spec(find(docs, "Deployment", "pregen"))["containers"][0]
    port = int(resolve_env(docs, c)["METRICS_PORT"])
    assert port == METRICS_PORTS["pregen"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container_port(c, c[probe]["httpGet"]["port"]) == port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_port_is_a_container_port_of_its_pods(overlay):
    docs = render(overlay)
    services = [d for d in docs if d["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == {"web", "generator", "votes", "postgres", "redis"}
    for service in services:
        selector = service["spec"]["selector"]
        pods = [w for w in workloads(docs)
                if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, service["metadata"]["name"]
        container = pod_spec(pods[0])["containers"][0]
        for port in service["spec"]["ports"]:
            assert container_port(container, port["targetPort"]) == port["port"], service["metadata"]["name"]


def test_grpc_services_are_headless_and_clients_use_dns_targets():
    docs = render("gpu")
    for name, port in GRPC_PORTS.items():
        assert find(docs, "Service", name)["spec"]["clusterIP"] == "None"
        for client in ("web", "pregen"):
            env = resolve_env(docs, pod_spec(find(docs, "Deployment", client))["containers"][0])
            assert env[f"{name.upper()}_TARGET"] == f"dns:///{name}:{port}"


def test_urls_point_at_services_that_exist():
    docs = render("dev")
    for client in ("web", "pregen"):
        env = resolve_env(docs, pod_spec(find(docs, "Deployment", client))["containers"][0])
        host, port = re.match(r"redis://([^:/]+):(\d+)/", env["REDIS_URL"]).groups()
        assert find(docs, "Service", host)["spec"]["ports"][0]["port"] == int(port)
    secret = next(d for d in docs if d["kind"] == "Secret")
    import base64
    url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    host, port = re.match(r"postgresql://[^@]+@([^:/]+):(\d+)/", url).groups()
    assert find(docs, "Service", host)["spec"]["ports"][0]["port"] == int(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_references_name_a_secret_key(overlay):
    docs = render(overlay)
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for workload in workloads(docs):
        for c in pod_spec(workload)["containers"]:
            for entry in c.get("env", []):
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if not ref:
                    continue
                assert entry["name"] == ref["key"], "one name for a setting everywhere"
                if overlay == "dev":  # generated here; created by the operator in production
                    assert ref["key"] in secrets[ref["name"]]["data"]
                else:
                    assert ref["name"] == "billionsongs-secrets"


# --- labels, metrics, scaling, disruption ------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_recommended_labels_everywhere(overlay):
    for doc in render(overlay):
        labels = doc["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/part-of") == "billionsongs", doc["metadata"]["name"]
        assert "app.kubernetes.io/name" in labels, doc["metadata"]["name"]
        if doc["kind"] in ("Deployment", "StatefulSet"):
            template_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert template_labels["app.kubernetes.io/name"] == doc["metadata"]["name"]
            assert template_labels["app.kubernetes.io/part-of"] == "billionsongs"


def test_pods_with_metrics_carry_scrape_annotations_on_their_metrics_port():
    docs = render("gpu")
    for name, port in METRICS_PORTS.items():
        template = find(docs, "Deployment", name)["spec"]["template"]
        notes = template["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert int(notes["prometheus.io/port"]) == port
        assert notes["prometheus.io/path"] == "/metrics"
        c = template["spec"]["containers"][0]
        assert container_port(c, port) == port
        assert int(resolve_env(docs, c)["METRICS_PORT"]) == port


def test_autoscalers_and_disruption_budgets():
    docs = render("gpu")
    for name in ("web", "generator"):
        hpa = find(docs, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    for name in ("web", "generator", "votes"):
        pdb = find(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_gpu_overlay_puts_the_generator_on_gpu_nodes_with_weights_from_a_volume():
    docs = render("gpu")
    spec = pod_spec(find(docs, "Deployment", "generator"))
    c = spec["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in spec["tolerations"])
    assert spec["nodeSelector"]
    env = resolve_env(docs, c)
    assert env["GENERATOR_DEVICE"] == "cuda"
    mount = next(m for m in c["volumeMounts"] if m["name"] == "weights")
    assert mount["readOnly"] is True and env["MODEL_DIR"].startswith(mount["mountPath"] + "/")
    volume = next(v for v in spec["volumes"] if v["name"] == "weights")
    claim = find(docs, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]


def test_dev_overlay_has_no_gpu():
    spec = pod_spec(find(render("dev"), "Deployment", "generator"))
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"]
    assert resolve_env(render("dev"), spec["containers"][0])["GENERATOR_DEVICE"] == "cpu"


def test_postgres_is_a_statefulset_with_a_volume():
    docs = render("gpu")
    postgres = find(docs, "StatefulSet", "postgres")
    claim = postgres["spec"]["volumeClaimTemplates"][0]
    container = pod_spec(postgres)["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    # postgres 18 images: the volume is /var/lib/postgresql, PGDATA a versioned folder in it
    major = container["image"].split(":")[1].split(".")[0]
    assert major == "18"
    assert mount["mountPath"] == "/var/lib/postgresql"
    assert resolve_env(docs, container)["PGDATA"] == f"/var/lib/postgresql/{major}/docker"


def test_ingress_routes_to_the_web_service():
    docs = render("gpu")
    ingress = find(docs, "Ingress", "web")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = find(docs, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_operations_endpoints_are_off_the_public_edge():
    docs = render("gpu")
    web = find(docs, "Service", "web")
    assert [p["port"] for p in web["spec"]["ports"]] == [WEB_PORT], "no Service routes the metrics port"
    routed = {(p["backend"]["service"]["name"], p["backend"]["service"]["port"].get("name"))
              for i in docs if i["kind"] == "Ingress" for r in i["spec"]["rules"] for p in r["http"]["paths"]}
    assert routed == {("web", "http")}
    refused = find(docs, "Ingress", "web-operations-refused")
    assert refused["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"] == \
        "0.0.0.0/0,::/0"
    paths = {p["path"] for r in refused["spec"]["rules"] for p in r["http"]["paths"]}
    assert paths == {"/readyz", "/metrics"}
    hosts = {r["host"] for i in docs if i["kind"] == "Ingress" for r in i["spec"]["rules"]}
    assert len(hosts) == 1, "the refusal must be on the public host"
    # the ingress controller reaches only the site's port, Prometheus only the metrics port
    policy = find(docs, "NetworkPolicy", "web")
    by_namespace = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]:
                    {p["port"] for p in rule["ports"]}
                    for rule in policy["spec"]["ingress"] for peer in rule["from"] if "namespaceSelector" in peer}
    assert by_namespace == {"ingress-nginx": {WEB_PORT}, "monitoring": {METRICS_PORTS["web"]}}


# --- network policies: default deny, only the architecture's paths -----------

def _selects(selector: dict, labels: dict) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items()


def allowed_paths(docs) -> set[tuple[str, str, int]]:
    """Every (client, server, port) between the namespace's pods that both the
    server's ingress rules and the client's egress rules allow."""
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in workloads(docs)}

    def rules(pod, direction):
        applying = [p for p in policies if _selects(p["spec"]["podSelector"], pods[pod])
                    and direction.capitalize() in p["spec"]["policyTypes"]]
        assert applying, f"{pod}: no {direction} policy (default deny missing)"
        return [r for p in applying for r in p["spec"].get(direction, [])]

    def allows(rule_list, peer_key, peer, port):
        for rule in rule_list:
            ports = {p["port"] for p in rule.get("ports", [])}
            peers = rule.get(peer_key)
            if ports and port not in ports:
                continue
            if peers is None or any("namespaceSelector" not in x and _selects(x.get("podSelector", {}), pods[peer])
                                    for x in peers):
                return True
        return False

    ports = {port for _, _, port in PATHS}
    return {(client, server, port) for client in pods for server in pods for port in ports
            if client != server and allows(rules(server, "ingress"), "from", client, port)
            and allows(rules(client, "egress"), "to", server, port)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_open_exactly_the_architectures_paths(overlay):
    assert allowed_paths(render(overlay)) == PATHS


def test_the_network_check_notices_an_extra_path():
    docs = copy.deepcopy(list(render("base")))
    find(docs, "NetworkPolicy", "postgres")["spec"]["ingress"][0]["from"].append(
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}})
    find(docs, "NetworkPolicy", "web")["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 5432}]})
    assert ("web", "postgres", 5432) in allowed_paths(docs)


def test_monitoring_and_ingress_controller_reach_only_serving_ports():
    docs = render("gpu")
    for name in SERVICES:
        policy = find(docs, "NetworkPolicy", name)
        for rule in policy["spec"].get("ingress", []):
            if any("namespaceSelector" in peer for peer in rule["from"]):
                ports = {p["port"] for p in rule["ports"]}
                assert ports <= {METRICS_PORTS[name], WEB_PORT}, f"{name}: {ports}"
