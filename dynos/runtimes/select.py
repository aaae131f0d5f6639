"""Pick the dyno runtime for this daemon: `PAAS_RUNTIME` = process | docker | auto.

auto uses Docker when an engine answers and the Docker runtime is part of this build, and
local processes otherwise; the reason is shown by `paas status` and the daemon banner.

Contract for `dynos/runtimes/docker.py`: it exposes `DockerRuntime(settings)` implementing
`dynos.runtimes.base.Runtime` and `async def docker_unavailable_reason(settings) -> str | None`
(None = an engine is usable, else why not). Without that function, a ping through the docker
SDK decides.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from common.config import Settings
from dynos.runtimes.base import Runtime
from dynos.runtimes.process import ProcessRuntime

DOCKER_PING_TIMEOUT = 3.0


class RuntimeUnavailable(RuntimeError):
    """The runtime asked for cannot be used (message says why and what to do)."""


def _docker_module() -> Any | None:
    try:
        return importlib.import_module("dynos.runtimes.docker")
    except ModuleNotFoundError as exc:
        if exc.name == "dynos.runtimes.docker":
            return None
        raise


async def docker_available(settings: Settings) -> tuple[bool, str]:
    module = _docker_module()
    if module is None or not hasattr(module, "DockerRuntime"):
        return False, "the Docker runtime is not part of this build"
    check = getattr(module, "docker_unavailable_reason", None)
    if check is not None:
        why = await check(settings)
        return (
            (True, "a Docker engine answered")
            if why is None
            else (False, f"no Docker engine is usable: {why}")
        )

    def ping() -> None:
        import docker

        client = docker.from_env(timeout=int(DOCKER_PING_TIMEOUT))
        try:
            client.ping()
        finally:
            client.close()

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), DOCKER_PING_TIMEOUT + 1)
    except Exception as exc:  # any failure means "no usable engine"
        return False, f"no Docker engine reachable ({exc.__class__.__name__}: {exc})"
    return True, "Docker engine reachable"


async def choose_runtime(settings: Settings) -> tuple[Runtime, str]:
    """(runtime, human-readable reason). Raises RuntimeUnavailable for PAAS_RUNTIME=docker without an engine."""
    wanted = settings.runtime
    if wanted == "process":
        return ProcessRuntime(settings), "PAAS_RUNTIME=process"
    ok, reason = await docker_available(settings)
    if ok:
        module = _docker_module()
        assert module is not None
        runtime: Runtime = module.DockerRuntime(settings)
        detail = getattr(runtime, "reason", "")  # engine version and stack image in use
        reason = f"{reason}: {detail}" if detail else reason
        return runtime, reason if wanted == "auto" else f"PAAS_RUNTIME=docker; {reason}"
    if wanted == "docker":
        raise RuntimeUnavailable(f"PAAS_RUNTIME=docker but {reason}")
    return ProcessRuntime(settings), f"local processes: {reason}"
