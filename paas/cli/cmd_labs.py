"""labs, labs:enable, labs:disable: Heroku's experimental app features (log-runtime-metrics, ...),
kept with the app's other features."""

from __future__ import annotations

import click

from paas.cli.client import Client
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, print_json


def register(cli: click.Group) -> None:
    @cli.command("labs")
    @app_option()
    @json_option()
    def labs(app: str | None, as_json: bool) -> None:
        """List the experimental features of an app."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/features")
        if as_json:
            print_json(data)
            return
        header(f"App Features ({APP_GLYPH} {name})")
        width = max(len(f["name"]) for f in data)
        for f in data:
            echo(f"[{'+' if f['enabled'] else ' '}] {f['name'].ljust(width)}  {f['description']}")

    def _set(app: str | None, feature: str, enabled: bool) -> None:
        name = resolve_app(app)
        word = "Enabling" if enabled else "Disabling"
        with action(f"{word} {feature} for {APP_GLYPH} {name}"):
            Client().patch(f"/apps/{name}/features/{feature}", json={"enabled": enabled})

    @cli.command("labs:enable")
    @click.argument("feature")
    @app_option()
    def labs_enable(feature: str, app: str | None) -> None:
        """Enable an experimental feature (log-runtime-metrics: dyno load and memory samples)."""
        _set(app, feature, True)

    @cli.command("labs:disable")
    @click.argument("feature")
    @app_option()
    def labs_disable(feature: str, app: str | None) -> None:
        """Disable an experimental feature."""
        _set(app, feature, False)
