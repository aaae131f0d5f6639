"""The Dockerfile builder: `docker build` with the local engine; the slug records the image.

Nothing can be pulled here, so base images must already be present locally (`FROM scratch`
always works). The image is tagged `paas/<app>:<build>`; the slug keeps the source (for the
Procfile) and `docker_image`, which the Docker runtime runs. Without a Procfile the image's
own CMD is the web process (an empty command).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paas.builds.buildpacks.common import copy_source_to_slug, detail, step
from paas.builds.compile import BuildContext, BuildFailed

PULL_ERROR = re.compile(r"pull access denied|failed to resolve|not found|no such host|dial tcp", re.I)


def image_tag(app: str, slug_dir: Path) -> str:
    return f"paas/{app}:{slug_dir.name[:12]}"


def _docker_client() -> Any:
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a dependency
        raise BuildFailed("The docker Python package is not installed") from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:
        raise BuildFailed(
            "Dockerfile found, but no Docker engine is reachable here (start dockerd, or remove the "
            "Dockerfile to use a language buildpack)"
        ) from None
    return client


class DockerfileBuildpack:
    name = "Dockerfile"

    def detect(self, source_dir: Path) -> bool:
        return (source_dir / "Dockerfile").is_file()

    async def compile(self, ctx: BuildContext) -> None:
        client = await asyncio.to_thread(_docker_client)
        tag = image_tag(ctx.app, ctx.slug_dir)
        step(ctx, f"Building image {tag} with the local Docker engine")
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        cancel = threading.Event()
        errors: list[str] = []

        def put(line: str | None) -> None:
            asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()

        worker = threading.Thread(
            target=_build,
            args=(client, ctx, tag, put, cancel, errors),
            name=f"docker-build-{ctx.app}",
            daemon=True,
        )
        worker.start()
        try:
            while (line := await lines.get()) is not None:
                detail(ctx, line)
        finally:
            cancel.set()
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    lines.get_nowait()
        if errors:
            raise BuildFailed(f"docker build failed: {_explained(errors[-1])}")
        await copy_source_to_slug(ctx)
        ctx.extra["docker_image"] = tag
        ctx.extra["default_process_types"] = {"web": ""}
        step(ctx, f"Built {tag}")


def _build(
    client: Any,
    ctx: BuildContext,
    tag: str,
    put: Callable[[str | None], None],
    cancel: threading.Event,
    errors: list[str],
) -> None:
    """`docker build` in a worker thread: each output line goes to `put`, then None."""
    try:
        stream = client.api.build(
            path=str(ctx.source_dir), tag=tag, rm=True, forcerm=True, pull=False, decode=True, buildargs=None
        )
        for chunk in stream:
            if cancel.is_set():
                break
            if "error" in chunk:
                errors.append(str(chunk["error"]).strip())
            text = str(chunk.get("stream") or chunk.get("error") or chunk.get("status") or "")
            for line in text.splitlines():
                if line.strip():
                    put(line.rstrip())
    except Exception as exc:
        errors.append(str(exc))
    finally:
        put(None)


def _explained(message: str) -> str:
    if PULL_ERROR.search(message):
        message += " (nothing can be pulled on this machine: use a base image that is present locally)"
    return message
