"""The committed stubs are exactly what tools/gen_protos.py makes from protos/."""
import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "services" / "common" / "billionsongs" / "v1"


def test_committed_stubs_match_protos(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    fresh = tmp_path / "billionsongs" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    committed = sorted(p.name for p in COMMITTED.iterdir() if p.is_file())
    assert names == committed, "stubs missing or extra: run `make protos`"
    match, mismatch, errors = filecmp.cmpfiles(fresh, COMMITTED, names, shallow=False)
    assert not mismatch and not errors, f"stale stubs {mismatch + errors}: run `make protos`"
