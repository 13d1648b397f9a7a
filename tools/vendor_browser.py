"""Browser libraries the site serves itself (never from a CDN), from the npm registry,
pinned by version and by the registry's integrity hash, with their licences:
services/web/web/static/vendor/<name>/, plus SOURCE.json there naming where each
file came from and its SHA-256 (tests/deploy/test_vendored.py checks them offline).

    python tools/vendor_browser.py           # fetch with `npm pack`, check, unpack
    python tools/vendor_browser.py --check   # offline: do the files match SOURCE.json?

Now: abcjs (MIT), which draws the song page's score from ABC notation.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "services" / "web" / "web" / "static" / "vendor"
PACKAGES = {
    "abcjs": {
        "version": "6.7.2",
        "integrity": "sha512-cHCyf8j0hAcxTuwZ9l2QznaSlLK1TD2s5oVw6Ig8Kfss6VfJKoNJ1kAzMBwa6DDWeyNl2JH7mN/U+MJ8MYbC5g==",
        "license": "MIT",
        # files in the package -> their names here
        "files": {"dist/abcjs-basic-min.js": "abcjs-basic-min.js",
                  "dist/abcjs-basic-min.js.LICENSE": "abcjs-basic-min.js.LICENSE.txt",
                  "LICENSE.md": "LICENSE.md"},
    },
}


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(name: str, spec: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", f"{name}@{spec['version']}", "--json", "--pack-destination", tmp],
                             check=True, capture_output=True, text=True, timeout=300).stdout
        packed = json.loads(out)[0]
        if packed["integrity"] != spec["integrity"]:
            raise SystemExit(f"{name}@{spec['version']}: the registry's integrity {packed['integrity']} "
                             f"is not the pinned {spec['integrity']}")
        target = VENDOR / name
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(Path(tmp) / packed["filename"]) as archive:
            for inner, local in spec["files"].items():
                member = archive.extractfile(f"package/{inner}")
                if member is None:
                    raise SystemExit(f"{name}: {inner} is not a file in the package")
                (target / local).write_bytes(member.read())
        source = {"package": name, "version": spec["version"], "registry": "npm", "integrity": spec["integrity"],
                  "license": spec["license"],
                  "files": {local: {"from": inner, "sha256": sha256(target / local)}
                            for inner, local in spec["files"].items()}}
        (target / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
        print(f"{name}@{spec['version']}: {', '.join(spec['files'].values())} -> {target.relative_to(ROOT)}")


def check() -> list[str]:
    """What does not match: a missing file, another version, a changed file."""
    problems = []
    for name, spec in PACKAGES.items():
        source_path = VENDOR / name / "SOURCE.json"
        if not source_path.exists():
            problems.append(f"{name}: no SOURCE.json (run tools/vendor_browser.py)")
            continue
        source = json.loads(source_path.read_text())
        if source.get("version") != spec["version"] or source.get("integrity") != spec["integrity"]:
            problems.append(f"{name}: SOURCE.json is of {source.get('version')}, not {spec['version']}")
        for local in spec["files"].values():
            path = VENDOR / name / local
            if not path.exists():
                problems.append(f"{name}: {local} is missing")
            elif sha256(path) != source.get("files", {}).get(local, {}).get("sha256"):
                problems.append(f"{name}: {local} is not the file SOURCE.json names")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored files, offline")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for name, spec in PACKAGES.items():
        fetch(name, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
