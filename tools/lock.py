"""Lock files for the images: ``services/<name>/requirements.lock``, resolved by
``uv pip compile`` (the uv wheel, requirements-dev.txt) from the dependencies in
the service's ``pyproject.toml`` and in ``services/common/pyproject.toml`` (the
billionsongs-* packages themselves come from the source tree, not PyPI) for the
images' Python and platform, every package pinned with its hashes. Each
Dockerfile installs exactly its lock
(``pip install --require-hashes --no-deps -r requirements.lock``), then the
service's own packages with ``--no-deps``.

    python tools/lock.py            # re-resolve every lock (needs PyPI)
    python tools/lock.py --check    # offline: is every lock made from the current requirements?

The header of each lock holds the SHA-256 of its inputs (those dependency lists),
so tests/deploy/test_locks.py can tell offline, without resolving, that a lock is
stale.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ("web", "generator", "votes", "pregen")
PYTHON_VERSION = "3.11"  # python:3.11.14-slim-bookworm, every image
PLATFORM = "x86_64-manylinux_2_28"  # glibc 2.36 in bookworm; the GPU nodes are x86_64
INPUT_LINE = "# inputs-sha256: "


def lock_path(name: str) -> Path:
    return ROOT / "services" / name / "requirements.lock"


LOCAL = "billionsongs-"  # our own packages: installed from the source tree


def project_dependencies(project: str) -> list[str]:
    """``[project].dependencies`` of ``services/<project>/pyproject.toml``."""
    data = tomllib.loads((ROOT / "services" / project / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def requirements(name: str) -> list[str]:
    """What the ``name`` image installs from PyPI: the service's dependencies and
    common's (every service depends on billionsongs-common), our own packages left out."""
    found = []
    for project in dict.fromkeys((name, "common")):
        found += [d for d in project_dependencies(project) if not d.startswith(LOCAL)]
    return found


def inputs_digest(name: str) -> str:
    digest = hashlib.sha256(f"python={PYTHON_VERSION} platform={PLATFORM}\n".encode())
    for line in requirements(name):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def recorded_digest(name: str) -> str | None:
    path = lock_path(name)
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(INPUT_LINE):
            return line[len(INPUT_LINE):].strip()
    return None


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else "uv"


def compile_lock(name: str) -> None:
    sources = f"services/{name}/pyproject.toml" + ("" if name == "common" else " and services/common/pyproject.toml")
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "requirements.in"
        inputs.write_text("\n".join(requirements(name)) + "\n")
        out = subprocess.run(
            [uv(), "pip", "compile", str(inputs), "--python-version", PYTHON_VERSION,
             "--python-platform", PLATFORM, "--generate-hashes", "--no-header", "--no-annotate", "--quiet"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    header = (f"# The {name} image's lock: every package it installs, pinned, with hashes.\n"
              f"# Made by `python tools/lock.py` (uv pip compile of the dependencies in\n"
              f"#   {sources}, --python-version {PYTHON_VERSION} --python-platform {PLATFORM} --generate-hashes).\n"
              f"# Do not edit: change those dependencies and run it again.\n"
              f"{INPUT_LINE}{inputs_digest(name)}\n")
    lock_path(name).write_text(header + out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, offline")
    parser.add_argument("images", nargs="*", default=list(IMAGES))
    args = parser.parse_args(argv)
    stale = [n for n in args.images if recorded_digest(n) != inputs_digest(n)]
    if args.check:
        for name in stale:
            print(f"{lock_path(name).relative_to(ROOT)} is stale: run python tools/lock.py {name}")
        return 1 if stale else 0
    for name in args.images:
        compile_lock(name)
        print(f"wrote {lock_path(name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
