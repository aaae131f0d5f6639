"""apps, apps:create, apps:info, apps:destroy, maintenance, domains, features."""

from __future__ import annotations

import sys

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table


def register(cli: click.Group) -> None:
    @cli.command("apps")
    @json_option()
    def apps(as_json: bool) -> None:
        """List your apps."""
        data = Client().get("/apps")
        if as_json:
            print_json(data)
            return
        header("Apps")
        for app in data:
            echo(app["name"])

    @cli.command("apps:create")
    @click.argument("name", required=False)
    @click.option("--stack", default=None, help="the stack to create the app on")
    @click.option(
        "--from", "from_path", default=None, help="create from a directory or repository with app.json"
    )
    @json_option()
    def apps_create(name: str | None, stack: str | None, from_path: str | None, as_json: bool) -> None:
        """Create a new app (a random two-word name when NAME is omitted)."""
        client = Client()
        label = f"Creating {APP_GLYPH} {name}" if name else "Creating app"
        with action(label):
            body: dict[str, object] = {}
            if name:
                body["name"] = name
            if stack:
                body["stack"] = stack
            app = client.post("/apps", json=body)
        if from_path:
            from paas.cli.setup_from import create_from

            create_from(client, app["name"], from_path)
        if as_json:
            print_json(app)
            return
        if not name:
            echo(f"Created {APP_GLYPH} {app['name']}")
        echo(f"{app['web_url']} | {app['git_url']}")

    @cli.command("apps:info")
    @app_option()
    @json_option()
    def apps_info(app: str | None, as_json: bool) -> None:
        """Show detailed app information."""
        client = Client()
        name = resolve_app(app)
        data = client.get(f"/apps/{name}")
        addons = client.get(f"/apps/{name}/addons")
        formation = client.get(f"/apps/{name}/formation")
        if as_json:
            print_json({"app": data, "addons": addons, "formation": formation})
            return
        header(data["name"])
        key_values(
            [
                ("Addons", ", ".join(a["name"] for a in addons) or ""),
                ("Dynos", " ".join(f"{f['type']}: {f['quantity']}" for f in formation) or ""),
                ("Git URL", data["git_url"]),
                ("Maintenance", "on" if data["maintenance"] else "off"),
                ("Owner", data["owner"]["email"]),
                ("Region", data["region"]["name"]),
                ("Stack", data["stack"]["name"]),
                ("Web URL", data["web_url"]),
            ]
        )

    @cli.command("apps:destroy")
    @app_option()
    @click.option("--confirm", default=None, help="set to app name to bypass confirm prompt")
    @click.argument("name", required=False)
    def apps_destroy(app: str | None, confirm: str | None, name: str | None) -> None:
        """Permanently destroy an app (its dynos, add-ons, releases)."""
        target = name or resolve_app(app)
        if confirm != target:
            if confirm is not None or not sys.stdin.isatty():
                raise CliError(f"Confirmation did not match {target}. Aborted. Pass --confirm {target}.")
            typed = click.prompt(
                f" !    WARNING: This will delete {APP_GLYPH} {target} including all add-ons.\n"
                f" !    To proceed, type {target} or re-run this command with --confirm {target}\n"
            )
            if typed != target:
                raise CliError(f"Confirmation did not match {target}. Aborted.")
        client = Client()
        with action(f"Destroying {APP_GLYPH} {target} (including all add-ons)"):
            client.delete(f"/apps/{target}")

    # ---- maintenance --------------------------------------------------------------------
    @cli.command("maintenance")
    @app_option()
    @json_option()
    def maintenance(app: str | None, as_json: bool) -> None:
        """Display the current maintenance status of the app."""
        data = Client().get(f"/apps/{resolve_app(app)}")
        if as_json:
            print_json({"maintenance": data["maintenance"]})
        else:
            echo("on" if data["maintenance"] else "off")

    def _set_maintenance(app: str | None, on: bool) -> None:
        name = resolve_app(app)
        word = "Enabling" if on else "Disabling"
        with action(f"{word} maintenance mode for {APP_GLYPH} {name}"):
            Client().patch(f"/apps/{name}", json={"maintenance": on})

    @cli.command("maintenance:on")
    @app_option()
    def maintenance_on(app: str | None) -> None:
        """Put the app into maintenance mode (the router answers H80)."""
        _set_maintenance(app, True)

    @cli.command("maintenance:off")
    @app_option()
    def maintenance_off(app: str | None) -> None:
        """Take the app out of maintenance mode."""
        _set_maintenance(app, False)

    # ---- domains ------------------------------------------------------------------------
    @cli.command("domains")
    @app_option()
    @json_option()
    def domains(app: str | None, as_json: bool) -> None:
        """List the app's domains."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/domains")
        if as_json:
            print_json(data)
            return
        header(f"{name} Heroku Domain")
        for d in data:
            if d["kind"] == "heroku":
                echo(d["hostname"])
        custom = [d for d in data if d["kind"] == "custom"]
        if custom:
            echo()
            header(f"{name} Custom Domains")
            table([[d["hostname"]] for d in custom], ["Domain Name"])

    @cli.command("domains:add")
    @click.argument("hostname")
    @app_option()
    def domains_add(hostname: str, app: str | None) -> None:
        """Add a custom domain (routed by Host header)."""
        name = resolve_app(app)
        with action(f"Adding {hostname} to {APP_GLYPH} {name}"):
            Client().post(f"/apps/{name}/domains", json={"hostname": hostname})

    @cli.command("domains:remove")
    @click.argument("hostname")
    @app_option()
    def domains_remove(hostname: str, app: str | None) -> None:
        """Remove a custom domain."""
        name = resolve_app(app)
        with action(f"Removing {hostname} from {APP_GLYPH} {name}"):
            Client().delete(f"/apps/{name}/domains/{hostname}")

    # ---- features -----------------------------------------------------------------------
    @cli.command("features")
    @app_option()
    @json_option()
    def features(app: str | None, as_json: bool) -> None:
        """List the app's features (preboot, http-routing-2-dot-0, ...)."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/features")
        if as_json:
            print_json(data)
            return
        header(f"App Features {APP_GLYPH} {name}")
        width = max(len(f["name"]) for f in data)
        for f in data:
            mark = "[+]" if f["enabled"] else "[ ]"
            echo(f"{mark} {f['name'].ljust(width)}  {f['description']}")

    def _feature(app: str | None, feature: str, enabled: bool) -> None:
        name = resolve_app(app)
        word = "Enabling" if enabled else "Disabling"
        with action(f"{word} {feature} for {APP_GLYPH} {name}"):
            Client().patch(f"/apps/{name}/features/{feature}", json={"enabled": enabled})

    @cli.command("features:enable")
    @click.argument("feature")
    @app_option()
    def features_enable(feature: str, app: str | None) -> None:
        """Enable an app feature."""
        _feature(app, feature, True)

    @cli.command("features:disable")
    @click.argument("feature")
    @app_option()
    def features_disable(feature: str, app: str | None) -> None:
        """Disable an app feature."""
        _feature(app, feature, False)
