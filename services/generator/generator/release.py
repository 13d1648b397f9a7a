"""The model release id (ARCHITECTURE.md invariant 2): a hash of the weights,
the tokenizer and every setting that changes the text. It is in every Song and
in every cache key, so a new model never serves old text."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from generator.songformat import LYRICS_MARKER, TITLE_MARKER

# Names the scheme sampling.py implements; part of the release id, because a
# change there changes every song. Bump it with any change to sampling.py.
SAMPLING_SCHEME = "splitmix64-gumbel-topk-v1"

# Files whose bytes decide the text; everything else in the directory (READMEs,
# training logs) may change without a new release.
_MODEL_FILES = ("config.json", "tokenizer.json", "vocab.json", "merges.txt",
                "tokenizer_config.json", "special_tokens_map.json")


def model_files(model_dir: Path) -> list[Path]:
    files = [model_dir / n for n in _MODEL_FILES if (model_dir / n).exists()]
    files += sorted(model_dir.glob("*.safetensors"))
    return sorted(files)


def files_digest(model_dir: str | Path) -> str:
    model_dir = Path(model_dir)
    files = model_files(model_dir)
    if not files:
        raise FileNotFoundError(f"no model files in {model_dir}")
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def release_id(digest: str, generation: dict) -> str:
    """``digest`` of the files plus the generation settings (sampling scheme,
    top-k, temperature, length limit, device type, dtype, batch shape)."""
    h = hashlib.sha256((digest + json.dumps(generation, sort_keys=True)).encode())
    return h.hexdigest()[:16]


def generation_settings(settings, device: str) -> dict:
    """What besides the files decides the text. The batch shape is in it because
    every step runs at exactly max_batch rows and matmul kernels may pick a
    different reduction order for another shape."""
    return {"prompt": "<|endoftext|>", "sampling": SAMPLING_SCHEME, "top_k": settings.top_k,
            "temperature": settings.temperature, "max_new_tokens": settings.max_new_tokens,
            "device_type": device.split(":")[0], "dtype": settings.dtype, "batch_shape": settings.max_batch}


@dataclass(frozen=True)
class ModelDescription:
    """What the server process knows of the model without loading it (no torch)."""
    digest: str
    name: str
    writes_titles: bool


def describe_model(model_dir: str | Path) -> ModelDescription:
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir} is not a save_pretrained model directory (no config.json)")
    config = json.loads((model_dir / "config.json").read_text())
    tokenizer_json = model_dir / "tokenizer.json"
    added = json.loads(tokenizer_json.read_text()).get("added_tokens", []) if tokenizer_json.exists() else []
    contents = {t.get("content") for t in added}
    name = config.get("_name_or_path") or model_dir.name
    return ModelDescription(files_digest(model_dir), name,
                            TITLE_MARKER in contents and LYRICS_MARKER in contents)
