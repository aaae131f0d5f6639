"""Run the dyno tests against both runtimes: local processes and Docker containers.

A test module opts in with

    from tests.support.runtimes import dyno_runtime  # noqa: F401  (the fixture)
    pytestmark = pytest.mark.usefixtures("dyno_runtime")

Every test then runs twice, `[process]` and `[docker]` (the latter marked `docker`). While a
test runs, `current()` names its runtime, `make_runtime()` builds it and `python()` is the
interpreter to put in dyno commands (the host's for processes, the stack image's `python3`
for containers). Docker tests skip on a laptop without an engine and fail with CI=true
(`tests/support/require.py`). The local stack image is built once if missing (file-locked, so
parallel xdist workers build it once).
"""

from __future__ import annotations

import fcntl
import functools
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.config import Settings
from dynos.runtimes.base import Runtime
from tests.support.require import require

_current = "process"

HOST_PYTHON = shlex.quote(sys.executable)
STACK_PYTHON = "python3"  # on the stack image (paas/stack:local carries the host's Debian python3)


def current() -> str:
    """The runtime of the test that is running ("process" outside parametrized tests)."""
    return _current


def python(runtime: str | None = None) -> str:
    """The Python interpreter for dyno commands under `runtime` (default: the current one)."""
    return STACK_PYTHON if (runtime or _current) == "docker" else HOST_PYTHON


def make_runtime(name: str, settings: Settings, **kwargs: Any) -> Runtime:
    if name == "docker":
        from dynos.runtimes.docker import DockerRuntime

        return DockerRuntime(settings, **kwargs)
    from dynos.runtimes.process import ProcessRuntime

    return ProcessRuntime(settings, **kwargs)


@functools.lru_cache(maxsize=1)
def docker_problem() -> str | None:
    """None when an engine answers and a stack image is ready (built here if missing)."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:  # no SDK, no socket, no permission: all "no engine"
        return f"no Docker engine answers ({exc.__class__.__name__}); run scripts/ensure-docker.sh"
    try:
        from dynos.stack import LOCAL_STACK_IMAGE, build_local_stack, image_present

        lock_path = Path(tempfile.gettempdir()) / "paas-test-stack.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker builds, the others wait
            if not image_present(client, LOCAL_STACK_IMAGE):
                build_local_stack(docker.from_env(timeout=600), LOCAL_STACK_IMAGE)
    except Exception as exc:
        return f"could not build the local stack image: {exc}"
    finally:
        client.close()
    return None


def require_docker() -> None:
    problem = docker_problem()
    require(problem is None, problem or "")


@pytest.fixture(params=["process", pytest.param("docker", marks=pytest.mark.docker)])
def dyno_runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """Parametrizes a test over both runtimes; see the module docstring."""
    global _current
    name: str = request.param
    if name == "docker":
        require_docker()
    _current = name
    try:
        yield name
    finally:
        _current = "process"


def own_containers(home: Path) -> list[str]:
    """Ids of the containers (any state) a daemon with this PAAS_HOME labelled as its own."""
    label = f"io.paas.home={home.expanduser().resolve()}"
    out = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()
