"""The generator's settings, read from environment variables at start-up."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from billionsongs.common.settings import SettingsError, env_choice, env_float, env_int, env_str

# services/generator/generator/settings.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "billionsongs-small"

DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "bfloat16", "float16")
WORKER_MODES = ("batched", "per-request")


@dataclass(frozen=True)
class GeneratorSettings:
    listen: str = "127.0.0.1:50051"
    model_dir: str = str(DEFAULT_MODEL_DIR)
    device: str = "auto"             # "auto": cuda when available, else cpu
    dtype: str = "float32"
    worker_mode: str = "batched"     # or "per-request": a fresh process per song
    workers: int = 1                 # batched: engine processes; per-request: warm spares
    # Every decode step runs at exactly this many rows (idle rows are padding),
    # so the numerics of a row never depend on the batch around it.
    max_batch: int = 64
    max_songs_per_request: int = 1024
    max_new_tokens: int = 1024
    top_k: int = 40
    temperature: float = 1.0
    threads: int = 0                 # torch intra-op threads per worker; 0: torch's default
    metrics_port: int = 0            # 0: no /metrics endpoint
    log_level: str = "INFO"
    log_format: str = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GeneratorSettings:
        d = cls()
        settings = cls(
            listen=env_str("GENERATOR_LISTEN", d.listen, env),
            model_dir=env_str("MODEL_DIR", d.model_dir, env),
            device=env_choice("GENERATOR_DEVICE", DEVICES, d.device, env),
            dtype=env_choice("GENERATOR_DTYPE", DTYPES, d.dtype, env),
            worker_mode=env_choice("GENERATOR_WORKER_MODE", WORKER_MODES, d.worker_mode, env),
            workers=env_int("GENERATOR_WORKERS", d.workers, env, minimum=1, maximum=64),
            max_batch=env_int("GENERATOR_MAX_BATCH", d.max_batch, env, minimum=1, maximum=4096),
            max_songs_per_request=env_int("GENERATOR_MAX_SONGS_PER_REQUEST", d.max_songs_per_request,
                                          env, minimum=1),
            max_new_tokens=env_int("GENERATOR_MAX_NEW_TOKENS", d.max_new_tokens, env, minimum=1),
            top_k=env_int("GENERATOR_TOP_K", d.top_k, env, minimum=1),
            temperature=env_float("GENERATOR_TEMPERATURE", d.temperature, env, minimum=0.0),
            threads=env_int("GENERATOR_THREADS", d.threads, env, minimum=0),
            metrics_port=env_int("METRICS_PORT", d.metrics_port, env, minimum=0, maximum=65535),
            log_level=env_str("LOG_LEVEL", d.log_level, env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), d.log_format, env),
        )
        if settings.temperature <= 0:
            raise SettingsError("environment variable GENERATOR_TEMPERATURE must be above 0")
        return settings
