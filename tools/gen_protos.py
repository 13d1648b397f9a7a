"""Generate the Python gRPC stubs from protos/ (the only way they are made).

    python tools/gen_protos.py            # writes services/common/billionsongs/v1/
    python tools/gen_protos.py --out DIR  # writes DIR/billionsongs/v1/ (the freshness test)

The stubs are committed so every image and test imports the same code; a test
regenerates them and fails on any difference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DEFAULT_OUT = ROOT / "services" / "common"
HEADER = "# Generated from protos/ by tools/gen_protos.py. Do not edit.\n"


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def generate(out: Path) -> list[Path]:
    package_dir = out / "billionsongs" / "v1"
    package_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "billionsongs" / "v1").glob("*.proto"))
    args = ["grpc_tools.protoc", f"-I{PROTOS}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *sources]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (package_dir / "__init__.py").write_text(HEADER)
    return sorted(package_dir.glob("*"))


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="tools/gen_protos.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder that gets billionsongs/v1/ (default services/common)")
    args = parser.parse_args(argv)
    try:
        paths = generate(args.out)
    except OSError as e:
        parser.exit(2, f"{parser.prog}: error: argument --out: {args.out}: {e.strerror or e}\n")
    for path in paths:
        if path.is_file():
            print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
