"""Every image's lock (services/<name>/requirements.lock, tools/lock.py) was made
from the current requirements, pins every requirement within its range, and
carries hashes: checked offline, without resolving anything."""
from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement

from tests.support.deploylib import SERVICES
from tools import lock


def pins(name: str) -> dict[str, str]:
    text = lock.lock_path(name).read_text()
    return {canonical(n): v for n, v in re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", text, re.M)}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(name: str) -> list[Requirement]:
    return [Requirement(line) for line in lock.requirements(name)]


@pytest.mark.parametrize("name", SERVICES)
def test_lock_was_made_from_the_current_requirements(name):
    assert lock.recorded_digest(name) == lock.inputs_digest(name), (
        f"services/{name}/requirements.lock is stale: run python tools/lock.py {name}")


@pytest.mark.parametrize("name", SERVICES)
def test_every_requirement_is_pinned_in_the_lock_within_its_range(name):
    pinned = pins(name)
    for requirement in requirements(name):
        version = pinned.get(canonical(requirement.name))
        assert version, f"{name}: {requirement.name} is not in the lock"
        assert requirement.specifier.contains(version, prereleases=True), f"{name}: {requirement} vs {version}"


@pytest.mark.parametrize("name", SERVICES)
def test_every_locked_package_is_pinned_with_hashes(name):
    text = lock.lock_path(name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 5)[-1])
    packages = [e for e in entries if re.match(r"[A-Za-z0-9._-]+==", e)]
    assert packages and len(packages) == len(pins(name))
    for entry in packages:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]
    for line in text.splitlines():
        assert not re.match(r"^[A-Za-z0-9._-]+\s*(>=|<=|~=|>|<|$)", line), f"unpinned: {line}"


def test_a_changed_requirement_makes_the_lock_stale(tmp_path, monkeypatch):
    for project, deps in (("common", '["grpcio==1.0"]'), ("web", '["billionsongs-common", "flask==3.0"]')):
        (tmp_path / "services" / project).mkdir(parents=True)
        (tmp_path / "services" / project / "pyproject.toml").write_text(
            f'[project]\nname = "{project}"\ndependencies = {deps}\n[tool.ruff]\nline-length = 120\n')
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    before = lock.inputs_digest("web")
    assert lock.requirements("web") == ["flask==3.0", "grpcio==1.0"], "our own packages are not from PyPI"
    (tmp_path / "services" / "web" / "requirements.lock").write_text(f"{lock.INPUT_LINE}{before}\n")
    assert lock.main(["--check", "web"]) == 0
    pyproject = tmp_path / "services" / "common" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("line-length = 120", "line-length = 100"))
    assert lock.inputs_digest("web") == before, "only the dependencies are the lock's inputs"
    pyproject.write_text(pyproject.read_text().replace("grpcio==1.0", "grpcio==1.1"))  # common's, included
    assert lock.inputs_digest("web") != before
    assert lock.main(["--check", "web"]) == 1
