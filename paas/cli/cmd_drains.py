"""drains, drains:add, drains:remove (as the heroku CLI prints them)."""

from __future__ import annotations

from urllib.parse import quote

import click

from paas.cli.client import Client
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import echo, header, print_json


def register(cli: click.Group) -> None:
    @cli.command("drains")
    @app_option()
    @json_option()
    def drains(app: str | None, as_json: bool) -> None:
        """Display the log drains of an app."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/log-drains")
        if as_json:
            print_json(data)
            return
        if not data:
            echo(f"{name} has no drains.")
            return
        header("Drains")
        for drain in data:
            echo(f"{drain['url']} ({drain['token']})")

    @cli.command("drains:add")
    @click.argument("url")
    @app_option()
    def drains_add(url: str, app: str | None) -> None:
        """Add a log drain to an app (syslog://, syslog+tls://, https://, http://)."""
        name = resolve_app(app)
        drain = Client().post(f"/apps/{name}/log-drains", json={"url": url})
        echo(f"Successfully added drain {drain['url']}")

    @cli.command("drains:remove")
    @click.argument("url_or_token")
    @app_option()
    def drains_remove(url_or_token: str, app: str | None) -> None:
        """Remove a log drain from an app (by its URL or its token)."""
        name = resolve_app(app)
        drain = Client().delete(f"/apps/{name}/log-drains/{quote(url_or_token, safe='')}")
        echo(f"Successfully removed drain {drain['url']}")
