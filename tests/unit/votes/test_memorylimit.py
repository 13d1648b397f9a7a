"""The container memory limit and the number of password hashes that fit in its budget."""
import pytest

from votes.memorylimit import (
    UNLIMITED_BUDGET_BYTES,
    container_memory_limit,
    hash_slots,
    hashing_budget_bytes,
)

GIB = 1024 ** 3


@pytest.mark.parametrize("v2, v1, limit", [
    ("1073741824\n", None, GIB),         # cgroup v2, a 1 GiB pod limit
    ("max\n", None, None),               # cgroup v2 without a limit
    (None, "536870912\n", GIB // 2),     # cgroup v1
    (None, "9223372036854771712\n", None),  # v1's "unlimited"
    (None, None, None),                  # no cgroup files at all
])
def test_the_container_limit_is_read_from_cgroup_v2_then_v1(tmp_path, v2, v1, limit):
    files = []
    for name, text in (("memory.max", v2), ("memory.limit_in_bytes", v1)):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        files.append(str(path))
    assert container_memory_limit(tuple(files)) == limit


def test_the_budget_is_the_setting_else_half_the_limit_else_a_fixed_one():
    assert hashing_budget_bytes(256, GIB) == 256 * 1024 * 1024
    assert hashing_budget_bytes(0, GIB) == GIB // 2
    assert hashing_budget_bytes(0, None) == UNLIMITED_BUDGET_BYTES


def test_a_1_gib_pod_hashes_8_default_passwords_at_once():
    # The votes pod's limit (deploy/k8s/base/votes.yaml) and argon2's default 64 MiB.
    assert hash_slots(hashing_budget_bytes(0, GIB), 65536, most=32) == 8
    assert hash_slots(10, 65536, most=32) == 1      # less than one hash: still one
    assert hash_slots(100 * GIB, 65536, most=32) == 32  # never more than the handler threads
