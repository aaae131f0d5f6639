"""addons, addons:create, addons:info, addons:destroy."""

from __future__ import annotations

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table


def register(cli: click.Group) -> None:
    @cli.command("addons")
    @app_option()
    @json_option()
    def addons(app: str | None, as_json: bool) -> None:
        """List your add-ons and attachments."""
        client = Client()
        target = resolve_app(app, required=False)
        data = client.get(f"/apps/{target}/addons") if target else client.get("/addons")
        if as_json:
            print_json(data)
            return
        if not data:
            echo("No add-ons.")
            return
        table(
            [
                [a["addon_service"]["name"], a["name"], a["plan"]["name"], a["attachment"] + "_*", a["state"]]
                for a in data
            ],
            ["Add-on", "Name", "Plan", "As", "State"],
        )

    @cli.command("addons:create")
    @click.argument("spec")
    @app_option()
    @click.option("--name", default=None, help="name for the add-on resource")
    @click.option("--as", "attachment", default=None, help="name for the initial add-on attachment")
    @json_option()
    def addons_create(
        spec: str, app: str | None, name: str | None, attachment: str | None, as_json: bool
    ) -> None:
        """Create a new add-on: SERVICE[:PLAN] (heroku-postgresql, heroku-kafka:basic-0, ...)."""
        target = resolve_app(app)
        body: dict[str, object] = {"plan": spec}
        if name:
            body["name"] = name
        if attachment:
            body["attachment"] = {"name": attachment}
        client = Client(timeout=180)
        with action(f"Creating {spec} on {APP_GLYPH} {target}") as result:
            data = client.post(f"/apps/{target}/addons", json=body)
            result["suffix"] = "free"
        if as_json:
            print_json(data)
            return
        echo(f"Created {data['name']} as {', '.join(data['config_vars'])}")
        echo("Use paas addons:docs to view documentation")

    @cli.command("addons:info")
    @click.argument("addon")
    @app_option()
    @json_option()
    def addons_info(addon: str, app: str | None, as_json: bool) -> None:
        """Show detailed add-on information."""
        data = Client().get(f"/apps/{resolve_app(app)}/addons/{addon}")
        if as_json:
            print_json(data)
            return
        header(data["name"])
        key_values(
            [
                ("Attachments", f"{data['app']['name']}::{data['attachment']}"),
                ("Installed at", data["created_at"]),
                ("Owning app", data["app"]["name"]),
                ("Plan", data["plan"]["name"]),
                ("Price", "free"),
                ("State", data["state"]),
            ]
        )

    @cli.command("addons:destroy")
    @click.argument("addon")
    @app_option()
    @click.option("--confirm", default=None, help="set to app name to bypass the confirm prompt")
    def addons_destroy(addon: str, app: str | None, confirm: str | None) -> None:
        """Permanently destroy an add-on resource."""
        target = resolve_app(app)
        if confirm != target:
            raise CliError(
                f"Confirmation did not match {target}. Pass --confirm {target} to destroy {addon}."
            )
        with action(f"Destroying {addon} on {APP_GLYPH} {target}"):
            Client(timeout=120).delete(f"/apps/{target}/addons/{addon}")
