"""config, config:get, config:set, config:unset."""

from __future__ import annotations

import shlex

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, print_json


def register(cli: click.Group) -> None:
    @cli.command("config")
    @app_option()
    @json_option()
    @click.option("-s", "--shell", is_flag=True, help="output config vars in shell format")
    def config(app: str | None, as_json: bool, shell: bool) -> None:
        """Display the config vars for an app."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/config-vars")
        if as_json:
            print_json(data)
            return
        if shell:
            for k, v in sorted(data.items()):
                echo(f"{k}={shlex.quote(v)}")
            return
        header(f"{name} Config Vars")
        if data:
            width = max(len(k) for k in data) + 2
            for k, v in sorted(data.items()):
                echo(f"{(k + ':').ljust(width)}{v}")

    @cli.command("config:get")
    @click.argument("key")
    @app_option()
    @json_option()
    def config_get(key: str, app: str | None, as_json: bool) -> None:
        """Display a single config value for an app."""
        data = Client().get(f"/apps/{resolve_app(app)}/config-vars")
        if as_json:
            print_json({"key": key, "value": data.get(key)})
        else:
            echo(data.get(key, ""))

    @cli.command("config:set")
    @click.argument("pairs", nargs=-1, required=True)
    @app_option()
    def config_set(pairs: tuple[str, ...], app: str | None) -> None:
        """Set one or more config vars: KEY=VALUE ..."""
        name = resolve_app(app)
        changes: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CliError(f"{pair} is invalid. Must be in the format FOO=bar.")
            changes[key] = value
        client = Client()
        keys = ", ".join(changes)
        with action(f"Setting {keys} and restarting {APP_GLYPH} {name}") as result:
            client.patch(f"/apps/{name}/config-vars", json=changes)
            result["suffix"] = _latest(client, name)
        for k, v in changes.items():
            echo(f"{k}: {v}")

    @cli.command("config:unset")
    @click.argument("keys", nargs=-1, required=True)
    @app_option()
    def config_unset(keys: tuple[str, ...], app: str | None) -> None:
        """Unset one or more config vars."""
        name = resolve_app(app)
        client = Client()
        with action(f"Unsetting {', '.join(keys)} and restarting {APP_GLYPH} {name}") as result:
            client.patch(f"/apps/{name}/config-vars", json={k: None for k in keys})
            result["suffix"] = _latest(client, name)


def _latest(client: Client, app: str) -> str:
    releases = client.get(f"/apps/{app}/releases")
    return f"v{releases[-1]['version']}" if releases else ""
