"""stack, stack:build — the base image container dynos run on (see dynos/stack.py, docs/docker.md).

Both go through the daemon's API (`GET /stack`, `POST /stack/builds`): the daemon talks to the
local Docker engine; the build's progress streams back line by line.
"""

from __future__ import annotations

import json
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import json_option
from paas.cli.ui import echo, header, key_values, print_json

BUILD_TIMEOUT = 900.0  # seconds without a line from the daemon before giving up (the import is slow)


def _summary(info: dict[str, Any]) -> str:
    if not info["present"]:
        return "not present on this engine"
    created = str(info.get("created") or "")[:19].replace("T", " ")
    return f"{info['id'][7:19]}, {info['size_bytes'] / 1e6:.0f} MB, created {created}"


def _build(client: Client, tag: str | None, progress: bool) -> dict[str, Any]:
    """Follow the daemon's build stream; the result, or a CliError saying why not."""
    result: dict[str, Any] | None = None
    body = {"tag": tag} if tag else {}
    for line in client.stream_lines("/stack/builds", method="POST", json=body, timeout=BUILD_TIMEOUT):
        if not line.strip():
            continue
        event = json.loads(line)
        kind = event.pop("type", None)
        if kind == "progress" and progress:
            echo(f"-----> {event['message']}")
        elif kind == "error":
            raise CliError(str(event.get("message")))
        elif kind == "result":
            result = event
    if result is None:
        raise CliError("the daemon ended the stack build without a result (see its log)")
    return result


def register(cli: click.Group) -> None:
    @cli.command("stack")
    @json_option()
    def stack(as_json: bool) -> None:
        """Show the stack image container dynos run on, and which one is used."""
        data = Client().get("/stack")
        if as_json:
            print_json(data)
            return
        configured, local = data["configured"], data["local"]
        header("Stack image")
        key_values(
            [
                ("Configured", f"{configured['name']} ({_summary(configured)})"),
                ("Local", f"{local['name']} ({_summary(local)})"),
                ("In use", data["in_use"] or "none"),
            ]
        )
        if data["in_use"] is None:
            echo("")
            echo(
                f"No stack image: pull {configured['name']} (docker pull) or build one with `paas stack:build`."
            )

    @cli.command("stack:build")
    @click.option("--tag", default=None, help="image name (default paas/stack:local)")
    @json_option()
    def stack_build(tag: str | None, as_json: bool) -> None:
        """Build a stack image from this machine's own files (no registry needed)."""
        client = Client()
        result = _build(client, tag, progress=not as_json)
        if as_json:
            print_json(result)
            return
        echo(
            f"-----> Built {result['image']} ({result['id'][7:19]}, {result['size_bytes'] / 1e6:.0f} MB) "
            f"in {result['seconds']:.1f}s"
        )
        configured = client.get("/stack")["configured"]["name"]
        if configured != result["image"]:
            echo(
                f"       Dynos use it whenever {configured} cannot be pulled; restart the daemon to pick it up."
            )
