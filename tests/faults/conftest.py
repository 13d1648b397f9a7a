"""The whole stack as `make run` starts it (devstack.launcher.Stack: real PostgreSQL,
Redis, generator, votes, pregen, web under gunicorn), started once for every test
in this folder, on free ports, with a tiny random model and JSON logs in files."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from devstack.launcher import Ports, Stack
from devstack.servers import free_port
from tests.support.stack import STACK_ENV, RunningStack


@pytest.fixture(scope="package")
def running_stack(generator_model_dir):
    # Not under pytest's basetemp: every pytest session on the host chmods
    # /tmp/pytest-of-<user> to 0700, and PostgreSQL (an unprivileged user when we
    # are root) could then no longer reach its data directory when it restarts.
    state = Path(tempfile.mkdtemp(prefix="billionsongs-faults-"))
    state.chmod(0o755)
    ports = Ports(web=free_port(), generator=free_port(), votes=free_port(), generator_metrics=free_port(),
                  votes_metrics=free_port(), pregen_metrics=free_port(), web_metrics=free_port(),
                  postgres=free_port(), redis=free_port())
    stack = Stack(state / "state", ports, generator_model_dir, env=STACK_ENV, log_dir=state / "logs")
    stack.start()
    running = RunningStack(stack, state / "logs")
    try:
        running.wait_healthy(timeout=120)
        yield running
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)
