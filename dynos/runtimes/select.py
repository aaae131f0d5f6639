"""PAAS_RUNTIME: auto picks Docker when an engine answers, else supervised processes."""

from __future__ import annotations

from typing import Any

from paas.config import Settings


class RuntimeUnavailable(RuntimeError):
    pass


async def choose_runtime(settings: Settings) -> tuple[Any, str]:
    """Returns (runtime, reason shown by `paas status`)."""
    if settings.runtime in ("auto", "docker"):
        try:
            from dynos.runtimes.docker import DockerRuntime, docker_unavailable_reason
        except ModuleNotFoundError:
            reason = "the Docker runtime is not part of this build"
        else:
            reason = await docker_unavailable_reason(settings)
            if reason is None:
                return DockerRuntime(settings), (
                    "PAAS_RUNTIME=docker" if settings.runtime == "docker" else "a Docker engine answered"
                )
        if settings.runtime == "docker":
            raise RuntimeUnavailable(f"PAAS_RUNTIME=docker but no Docker engine is usable: {reason}")
        from dynos.runtimes.process import ProcessRuntime

        return ProcessRuntime(settings), f"no Docker engine ({reason})"
    from dynos.runtimes.process import ProcessRuntime

    return ProcessRuntime(settings), "PAAS_RUNTIME=process"
