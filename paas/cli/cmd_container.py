"""container:release — run a local Docker image as process types of an app (no build)."""

from __future__ import annotations

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, print_json


def register(cli: click.Group) -> None:
    @cli.command("container:release")
    @click.argument("process_types", nargs=-1, required=True)
    @click.option("--image", required=True, help="local Docker image to release (e.g. myapp:latest)")
    @app_option()
    @json_option()
    def container_release(process_types: tuple[str, ...], image: str, app: str | None, as_json: bool) -> None:
        """Release a local Docker image as the app's PROCESS_TYPES (e.g. web)."""
        name = resolve_app(app)
        client = Client(timeout=3600)
        with action(f"Releasing image {image} to {APP_GLYPH} {name}") as result:
            release = client.post(
                f"/apps/{name}/container-releases",
                json={"image": image, "process_types": list(process_types)},
            )
            result["suffix"] = f"v{release['version']}"
        if as_json:
            print_json(release)
        if release.get("status") == "failed":
            raise CliError(
                f"Release v{release['version']} failed (release phase); the running release is unchanged."
            )
        if not as_json:
            echo(f"Running {', '.join(process_types)} from {image} on the Docker runtime.")
