"""certs:trust — where the local certificate authority is, and how to trust it."""

from __future__ import annotations

import click

from paas.cli.client import Client
from paas.cli.main import json_option
from paas.cli.ui import echo, print_json


def register(cli: click.Group) -> None:
    @cli.command("certs:trust")
    @json_option()
    def certs_trust(as_json: bool) -> None:
        """Print the local CA's file and how to make curl, browsers and git trust it."""
        data = Client().get("/certs/authority")
        if as_json:
            print_json({"path": data["path"]})
            return
        echo(str(data["instructions"]))
