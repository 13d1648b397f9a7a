"""The decode step through ``torch.compile`` (GENERATOR_COMPILE), the eager step untouched.

``compile_step(model, mode)`` replaces the model's ``step`` (on that instance
only) with one that runs the same Python function compiled by TorchDynamo and
Inductor at fixed shapes (``dynamic=False``): ``"default"`` fuses the step's
element-wise work into a few kernels; ``"reduce-overhead"`` also replays it as
a CUDA graph (GPUs; on a CPU it is ``"default"``). The arithmetic is the same
but fused kernels may round differently in the last bits, so the mode is part
of the release id (release.generation_settings).

Why it is built this way:

* ``step`` is decorated ``@torch.inference_mode()``, and Dynamo cannot trace
  through it ("Cannot set version_counter for inference tensor"); the
  undecorated function (``__wrapped__``) is compiled and called under
  ``torch.no_grad()``, which keeps autograd out just as well.
* The step's ``furthest`` (an int) picks how many 64-position cache blocks
  attention reads, a Python int that fixes the graph's shapes; with
  ``dynamic=False`` Dynamo specialises on its exact value. So that there is one
  graph per block count (not per position), the wrapper rounds it up to the
  last position of its block, which reads the same blocks (attention.
  blocks_to_read) and changes no number: the mask comes from each row's own
  position, never from ``furthest``. A cache of ``n`` blocks thus needs up to
  ``n`` graphs of this one function (per batch shape), and Dynamo's recompile
  limit (8 by default, after which it silently falls back to eager) is raised
  to allow them.
* The weights and the KV cache are marked static addresses: CUDA graphs then
  read them in place instead of copying every weight into the graph's own
  input buffers at each replay, and the cache's in-place writes (index_copy_)
  are allowed inside the graph.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from generator.attention import BLOCK, KVCache, blocks_to_read
from generator.settings import COMPILE_MODES as MODES


def _model_tensors(model) -> list[torch.Tensor]:
    """Every tensor the step reads from the model object (GPT: ``w``; Llama: its
    attributes and per-layer dicts), found by walking its attributes."""
    found, seen = [], set()

    def walk(value) -> None:
        if isinstance(value, torch.Tensor):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    for value in vars(model).values():
        walk(value)
    return found


# Cache shapes each step function (GPT.step, Llama.step: Dynamo counts graphs
# per function) has been compiled for in this process: (batch, heads, blocks).
_shapes: dict[object, set[tuple[int, int, int]]] = {}


def _allow_graphs(function, cache: KVCache) -> None:
    """Let Dynamo keep one graph of ``function`` per block count of every cache
    shape it has met (a bench runs several batch sizes in one process), plus one
    spare, before it falls back to eager (``recompile_limit``; ``cache_size_limit``
    in older torch). Process-wide, and only ever raised."""
    shapes = _shapes.setdefault(function, set())
    shapes.add((cache.batch, cache.heads, cache.blocks))
    count = sum(blocks for _, _, blocks in shapes) + 1
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), count))


def compile_step(model, mode: str) -> Callable[..., torch.Tensor]:
    """Replace ``model.step`` by its compiled form (``mode``: "default" or
    "reduce-overhead"; "off" leaves the model as it is) and return the new step.

    The new step has the same signature and contract as the eager one: tokens,
    pos (B,) int64 on the model's device, a KVCache from ``model.new_cache``,
    ``furthest`` (an int, or None for every block) -> logits (B, V) float32.
    The first call at each block count compiles (seconds to a minute), later
    ones run the compiled code. Raises ValueError for an unknown mode, and
    attention.blocks_to_read's ValueError for a ``furthest`` past the cache."""
    if mode not in MODES:
        raise ValueError(f"compile mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "off":
        return model.step
    raw = type(model).step.__wrapped__  # the function under @torch.inference_mode()
    compiled = torch.compile(raw, mode=mode, dynamic=False)
    for tensor in _model_tensors(model):
        torch._dynamo.mark_static_address(tensor)
    caches: set[int] = set()
    cudagraphs = mode == "reduce-overhead"

    def step(tokens: torch.Tensor, pos: torch.Tensor, cache: KVCache, furthest: int | None = None
             ) -> torch.Tensor:
        if id(cache) not in caches:
            caches.add(id(cache))
            _allow_graphs(raw, cache)
            torch._dynamo.mark_static_address(cache.k)
            torch._dynamo.mark_static_address(cache.v)
            for tensor in _model_tensors(model):  # Llama makes its rope tables with the cache
                torch._dynamo.mark_static_address(tensor)
        last = blocks_to_read(furthest, cache) * BLOCK - 1  # same blocks, one value per block count
        if cudagraphs:
            # The previous step's logits were used up before this call: the graph may overwrite them.
            torch.compiler.cudagraph_mark_step_begin()
        with torch.no_grad():
            return compiled(model, tokens, pos, cache, last)

    model.step = step
    return step
