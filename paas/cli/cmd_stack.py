"""stack, stack:build — the base image container dynos run on (see dynos/stack.py, docs/docker.md).

These talk to the local Docker engine directly (images are the engine's business, not the
daemon's state); `paas status` shows which image the running daemon uses.
"""

from __future__ import annotations

import datetime
from typing import Any

import click

from common.config import Settings, SettingsError
from paas.cli.client import CliError
from paas.cli.main import json_option
from paas.cli.ui import echo, header, key_values, print_json


def _docker() -> Any:
    """An SDK client for the engine, or a clear error saying how to get one."""
    from dynos.runtimes.docker.engine import Engine, EngineError, connect_error

    try:
        engine = Engine.from_env()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    try:
        client = engine.sdk_client(timeout=600)
        client.ping()
    except Exception as exc:  # the SDK raises many kinds; all mean "no engine"
        where = engine.unix_path or f"{engine.host}:{engine.port}"
        raise CliError(
            f"no Docker engine answers at {where} ({connect_error(exc)}). "
            "Start one (scripts/ensure-docker.sh) and try again."
        ) from None
    return client


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def _describe(client: Any, name: str) -> dict[str, Any]:
    import docker.errors

    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return {"name": name, "present": False}
    except docker.errors.APIError as exc:
        raise CliError(f"the engine could not look up {name}: {exc.explanation or exc}") from None
    return {
        "name": name,
        "present": True,
        "id": image.id,
        "size_bytes": int(image.attrs.get("Size") or 0),
        "created": image.attrs.get("Created"),
    }


def _summary(info: dict[str, Any]) -> str:
    if not info["present"]:
        return "not present on this engine"
    created = str(info.get("created") or "")[:19].replace("T", " ")
    return f"{info['id'][7:19]}, {info['size_bytes'] / 1e6:.0f} MB, created {created}"


def register(cli: click.Group) -> None:
    @cli.command("stack")
    @json_option()
    def stack(as_json: bool) -> None:
        """Show the stack image container dynos run on, and which one is used."""
        from dynos.stack import LOCAL_STACK_IMAGE, choose_stack_image

        settings = _settings()
        client = _docker()
        try:
            configured = _describe(client, settings.stack_image)
            local = _describe(client, LOCAL_STACK_IMAGE)
            in_use, reason = choose_stack_image(client, settings.stack_image, pull=False)
        finally:
            client.close()
        data = {"configured": configured, "local": local, "in_use": in_use, "reason": reason}
        if as_json:
            print_json(data)
            return
        header("Stack image")
        key_values(
            [
                ("Configured", f"{settings.stack_image} ({_summary(configured)})"),
                ("Local", f"{LOCAL_STACK_IMAGE} ({_summary(local)})"),
                ("In use", in_use or "none"),
            ]
        )
        if in_use is None:
            echo("")
            echo(
                f"No stack image: pull {settings.stack_image} (docker pull) or build one with `paas stack:build`."
            )

    @cli.command("stack:build")
    @click.option("--tag", default=None, help="image name (default paas/stack:local)")
    @json_option()
    def stack_build(tag: str | None, as_json: bool) -> None:
        """Build a stack image from this machine's own files (no registry needed)."""
        from dynos.stack import LOCAL_STACK_IMAGE, StackError, build_local_stack

        settings = _settings()
        client = _docker()
        name = tag or LOCAL_STACK_IMAGE
        progress = (lambda _line: None) if as_json else (lambda line: echo(f"-----> {line}"))
        try:
            result = build_local_stack(client, name, workdir=settings.cache_dir, progress=progress)
        except StackError as exc:
            raise CliError(str(exc)) from None
        except Exception as exc:  # the engine refused the import
            raise CliError(
                f"could not import the stack image: {getattr(exc, 'explanation', None) or exc}"
            ) from None
        finally:
            client.close()
        data = {
            "image": result.image,
            "id": result.image_id,
            "entries": result.files,
            "size_bytes": result.size_bytes,
            "seconds": round(result.seconds, 2),
            "source": result.source,
            "packages": result.packages,
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        if as_json:
            print_json(data)
            return
        echo(
            f"-----> Built {result.image} ({result.image_id[7:19]}, {result.size_bytes / 1e6:.0f} MB) "
            f"in {result.seconds:.1f}s"
        )
        if settings.stack_image != result.image:
            echo(
                f"       Dynos use it whenever {settings.stack_image} cannot be pulled; restart the daemon to pick it up."
            )
