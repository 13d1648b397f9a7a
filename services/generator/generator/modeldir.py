"""What a model directory holds, read without torch (the gRPC server process
reads it too): a plain save_pretrained directory, or a LoRA adapter saved by
peft whose base is found by name under the base-model folder."""
from __future__ import annotations

import json
from pathlib import Path

from generator.settings import DEFAULT_BASE_MODELS_DIR

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(model_dir: str | Path) -> bool:
    return (Path(model_dir) / ADAPTER_CONFIG).exists()


def base_model_dir(adapter_dir: str | Path, base_models_dir: str | Path | None = None) -> Path:
    """The plain model directory a LoRA adapter rests on.

    Raises FileNotFoundError naming the missing directory and how to make it."""
    config = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text())
    name = config.get("base_model_name_or_path") or ""
    path = Path(name)
    # An absolute path, or one directory name under the base-model folder.
    if not name or (not path.is_absolute() and len(path.parts) != 1):
        raise ValueError(f"{adapter_dir}/{ADAPTER_CONFIG}: base_model_name_or_path {name!r} "
                         f"is not a base-model directory name")
    if not path.is_absolute():
        path = Path(base_models_dir or DEFAULT_BASE_MODELS_DIR) / name
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"the base model {path} of the adapter {adapter_dir} is missing "
                                f"(run `make base-model`, or set GENERATOR_BASE_MODELS_DIR)")
    return path


def model_config(model_dir: str | Path, base_models_dir: str | Path | None = None) -> dict:
    """config.json of the model, or of an adapter's base."""
    d = base_model_dir(model_dir, base_models_dir) if is_adapter(model_dir) else Path(model_dir)
    return json.loads((d / "config.json").read_text())
