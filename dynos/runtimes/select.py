"""Pick the dyno runtime for this daemon: `PAAS_RUNTIME` = process | docker | auto.

auto uses Docker when an engine answers and a stack image is usable, and local processes
otherwise; the reason is shown by `paas status` and the daemon banner.
"""

from __future__ import annotations

from common.config import Settings
from dynos.runtimes.base import Runtime
from dynos.runtimes.docker import DockerRuntime, docker_unavailable_reason
from dynos.runtimes.process import ProcessRuntime


class RuntimeUnavailable(RuntimeError):
    """The runtime asked for cannot be used (message says why and what to do)."""


async def docker_available(settings: Settings) -> tuple[bool, str]:
    why = await docker_unavailable_reason(settings)
    if why is None:
        return True, "a Docker engine answered"
    return False, f"no Docker engine is usable: {why}"


async def choose_runtime(settings: Settings) -> tuple[Runtime, str]:
    """(runtime, human-readable reason). Raises RuntimeUnavailable for PAAS_RUNTIME=docker without an engine."""
    wanted = settings.runtime
    if wanted == "process":
        return ProcessRuntime(settings), "PAAS_RUNTIME=process"
    ok, reason = await docker_available(settings)
    if ok:
        runtime = DockerRuntime(settings)
        if runtime.reason:  # engine version and stack image in use
            reason = f"{reason}: {runtime.reason}"
        return runtime, reason if wanted == "auto" else f"PAAS_RUNTIME=docker; {reason}"
    if wanted == "docker":
        raise RuntimeUnavailable(f"PAAS_RUNTIME=docker but {reason}")
    return ProcessRuntime(settings), f"local processes: {reason}"
