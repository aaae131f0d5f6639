"""Can this daemon run container dynos? An engine must answer and a stack image be usable.

`dynos.runtimes.select` asks `docker_unavailable_reason(settings)` when `PAAS_RUNTIME` is
auto or docker; what the check found (engine version, stack image) is kept for the runtime's
`reason`, shown by `paas status`.
"""

from __future__ import annotations

import asyncio

from common.config import Settings
from dynos.runtimes.docker.engine import PING_TIMEOUT, Engine, EngineError, connect_error
from dynos.stack import choose_stack_image

_last_check: dict[tuple[Engine, str], str] = {}  # (engine, stack image) -> what the check found


def last_check(engine: Engine, stack_image: str) -> str:
    return _last_check.get((engine, stack_image), "")


def _check(engine: Engine, settings: Settings) -> str | None:
    pinger = engine.sdk_client(timeout=int(PING_TIMEOUT))
    try:
        pinger.ping()  # fail fast when nothing listens
    finally:
        pinger.close()
    client = engine.sdk_client()  # a pull streams progress: per-read timeout, not total
    try:
        version = str(client.version().get("Version", "?"))
        image, reason = choose_stack_image(client, settings.stack_image, pull=True)
        if image is None:
            return reason
        _last_check[(engine, settings.stack_image)] = f"Docker {version}, {reason}"
        return None
    finally:
        client.close()


async def docker_unavailable_reason(settings: Settings) -> str | None:
    """None when a Docker engine answers and a stack image is usable (pulling it if need be), else why not."""
    try:
        engine = Engine.from_env()
    except EngineError as exc:
        return str(exc)
    try:
        return await asyncio.to_thread(_check, engine, settings)
    except Exception as exc:  # the SDK raises many kinds; all mean "not usable"
        return (
            f"no Docker engine answers at {engine.where} ({connect_error(exc)}); "
            "start dockerd or use PAAS_RUNTIME=process"
        )
