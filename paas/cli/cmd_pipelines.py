"""pipelines, pipelines:create, pipelines:add, pipelines:info, pipelines:promote,
pipelines:update, pipelines:remove, pipelines:destroy."""

from __future__ import annotations

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, print_json, table

STAGES = ("review", "development", "staging", "production")
stage_option = click.option(
    "-s",
    "--stage",
    type=click.Choice(STAGES),
    default=None,
    help="stage of the app (inferred from the app name's suffix when omitted)",
)


def register(cli: click.Group) -> None:
    @cli.command("pipelines")
    @json_option()
    def pipelines(as_json: bool) -> None:
        """List pipelines."""
        data = Client().get("/pipelines")
        if as_json:
            print_json(data)
            return
        header("My Pipelines")
        for p in data:
            echo(p["name"])

    @cli.command("pipelines:create")
    @click.argument("name")
    @app_option()
    @stage_option
    def pipelines_create(name: str, app: str | None, stage: str | None) -> None:
        """Create a pipeline with the app in it."""
        app_name = resolve_app(app)
        client = Client()
        with action(f"Creating {name} pipeline"):
            client.post("/pipelines", json={"name": name})
        try:
            with action(f"Adding {APP_GLYPH} {app_name} to {name} pipeline as {stage or 'inferred stage'}"):
                client.post("/pipeline-couplings", json={"pipeline": name, "app": app_name, "stage": stage})
        except CliError:
            client.delete(f"/pipelines/{name}")  # no empty pipeline left behind by a bad stage / app
            raise

    @cli.command("pipelines:add")
    @click.argument("pipeline")
    @app_option()
    @stage_option
    def pipelines_add(pipeline: str, app: str | None, stage: str | None) -> None:
        """Add an app to a pipeline."""
        app_name = resolve_app(app)
        with action(f"Adding {APP_GLYPH} {app_name} to {pipeline} pipeline") as result:
            data = Client().post(
                "/pipeline-couplings", json={"pipeline": pipeline, "app": app_name, "stage": stage}
            )
            result["suffix"] = data["stage"]

    @cli.command("pipelines:update")
    @app_option()
    @click.option("-s", "--stage", type=click.Choice(STAGES), required=True, help="new stage of the app")
    def pipelines_update(app: str | None, stage: str) -> None:
        """Change the stage of an app in its pipeline."""
        app_name = resolve_app(app)
        with action(f"Changing {APP_GLYPH} {app_name} to {stage}"):
            Client().patch(f"/apps/{app_name}/pipeline-couplings", json={"stage": stage})

    @cli.command("pipelines:remove")
    @app_option()
    def pipelines_remove(app: str | None) -> None:
        """Remove an app from its pipeline."""
        app_name = resolve_app(app)
        with action(f"Removing {APP_GLYPH} {app_name} from its pipeline"):
            Client().delete(f"/apps/{app_name}/pipeline-couplings")

    @cli.command("pipelines:destroy")
    @click.argument("pipeline")
    def pipelines_destroy(pipeline: str) -> None:
        """Destroy a pipeline (its apps stay; its review apps are destroyed)."""
        with action(f"Destroying {pipeline} pipeline"):
            Client().delete(f"/pipelines/{pipeline}")

    @cli.command("pipelines:info")
    @click.argument("pipeline")
    @json_option()
    def pipelines_info(pipeline: str, as_json: bool) -> None:
        """Show the apps of a pipeline, by stage."""
        client = Client()
        data = client.get(f"/pipelines/{pipeline}")
        couplings = client.get(f"/pipelines/{pipeline}/pipeline-couplings")
        reviews = client.get(f"/pipelines/{pipeline}/review-apps")
        if as_json:
            print_json({"pipeline": data, "apps": couplings, "review_apps": reviews})
            return
        header(data["name"])
        if not couplings:
            echo("No apps in this pipeline.")
            return
        echo()
        branches = {r["app"]["name"]: f"review app of {r['branch']} ({r['status']})" for r in reviews}
        rows = [[c["app"]["name"], c["stage"], branches.get(c["app"]["name"], "")] for c in couplings]
        if reviews:
            table(rows, ["App Name", "Stage", "Review App"])
        else:
            table([row[:2] for row in rows], ["App Name", "Stage"])

    @cli.command("pipelines:promote")
    @app_option()
    @click.option("-t", "--to", "to", default=None, help="comma separated list of apps to promote to")
    @json_option()
    def pipelines_promote(app: str | None, to: str | None, as_json: bool) -> None:
        """Promote the app's latest release (its slug, no rebuild) to the next stage's apps."""
        app_name = resolve_app(app)
        client = Client(timeout=3600)
        body: dict[str, object] = {"source": {"app": {"name": app_name}}}
        if to:
            body["targets"] = [{"app": {"name": t.strip()}} for t in to.split(",") if t.strip()]
        with action("Fetching app info"):
            coupling = client.get(f"/apps/{app_name}/pipeline-couplings")
        with action(f"Starting promotion of {APP_GLYPH} {app_name} in {coupling['pipeline']['name']}"):
            result = client.post("/pipeline-promotions", json=body)
        if as_json:
            print_json(result)
        else:
            echo()
            failed = [t for t in result["targets"] if t["status"] != "succeeded"]
            echo("Promotion successful" if not failed else "Promotion failed")
            for t in result["targets"]:
                release = t.get("release") or {}
                suffix = f", v{release['version']}" if release.get("version") else ""
                reason = f" ({t['error_message']})" if t.get("error_message") else ""
                echo(f"{t['app']['name']}: {t['status']}{suffix}{reason}")
        if any(t["status"] != "succeeded" for t in result["targets"]):
            raise CliError("Promotion failed for some apps; their running releases are unchanged.")
