"""Container deploys: release a local Docker image as an app's process types, no build.

Like `heroku container:release web`: the image must already exist in the local engine
(`docker build -t my/image .`; nothing is pulled). The slug records `docker_image`; its
process types run the image's own CMD (an empty command), so only the Docker runtime can
run them. Release phase, restart strategy and rollback are the same as for any release.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from common.errors import PaasError, invalid
from paas.control import ControlPlane
from paas.control.releases import ReleasePath
from paas.control.values import ReleaseInfo

PROCESS_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")


def inspect_image(image: str) -> dict[str, Any]:
    """The engine's view of a local image; a clear error when the engine or the image is missing."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - docker is a dependency
        raise PaasError(503, "unavailable", "The docker Python package is not installed.") from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except DockerException:
        raise PaasError(
            503, "unavailable", "No Docker engine is reachable; container releases need one (start dockerd)."
        ) from None
    try:
        found = client.images.get(image)
    except ImageNotFound:
        raise invalid(
            f"Image {image} was not found in the local Docker engine (nothing is pulled here; "
            f"build or load it first, e.g. docker build -t {image} .)."
        ) from None
    except DockerException as exc:
        raise invalid(f"Image {image} could not be inspected: {exc}") from None
    attrs: dict[str, Any] = found.attrs
    return attrs


async def release_image(
    control: ControlPlane, releases: ReleasePath, app: str, image: str, process_types: list[str]
) -> ReleaseInfo:
    if not image.strip():
        raise invalid("Provide --image: the local Docker image to release.")
    if not process_types:
        raise invalid("Name at least one process type to release (e.g. web).")
    bad = [p for p in process_types if not PROCESS_TYPE.match(p)]
    if bad:
        raise invalid(f"Invalid process type {bad[0]!r}: letters, digits, '-' and '_' only.")
    name = control.get_app(app).name
    attrs = await asyncio.to_thread(inspect_image, image)
    image_id = str(attrs.get("Id") or image)
    slug_dir = control.settings.slugs_dir / name / f"image-{image_id.split(':')[-1][:12]}"
    slug_dir.mkdir(parents=True, exist_ok=True)
    types = {ptype: "" for ptype in process_types}  # "" = the image's own CMD
    size = int(attrs.get("Size") or 0)
    slug = control.create_slug(
        name, slug_dir, types, commit=image_id[:64], size=size, buildpack="container", docker_image=image
    )
    return await releases.release_slug(name, slug.id, f"Deployed {', '.join(process_types)} ({image})")
