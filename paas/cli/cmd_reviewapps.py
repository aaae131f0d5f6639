"""pipelines:review-apps:enable / :disable (also reviewapps:enable / :disable, Heroku's names),
reviewapps, reviewapps:destroy.

A review app is made by pushing a branch other than main to an app of a pipeline that has them
(`git push paas my-feature`): it is `<pipeline>-<branch>`, set up from app.json's
`environments.review`, and answers at `http://<app>.localhost:<router port>/`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table

pipeline_option = click.option("-p", "--pipeline", default=None, help="name of pipeline")


def _pipeline(pipeline: str | None, app: str | None, client: Client) -> str:
    """-p, else the pipeline of -a (or of the git remote's app)."""
    if pipeline:
        return pipeline
    app_name = resolve_app(app, required=False)
    if not app_name:
        raise CliError("Missing required flag -p, --pipeline: name of pipeline")
    coupling = client.get(f"/apps/{app_name}/pipeline-couplings")
    return str(coupling["pipeline"]["name"])


def _show_config(config: dict[str, Any]) -> None:
    key_values(
        [
            ("Automatic review apps", "on" if config["automatic_review_apps"] else "off"),
            ("Destroy stale review apps", "on" if config["destroy_stale_apps"] else "off"),
            ("Stale after", f"{config['stale_days']:g} days without a deploy"),
        ]
    )


def _enable(pipeline: str | None, app: str | None, autodeploy: bool, autodestroy: bool) -> None:
    """Enable review apps (or turn the given settings on) for a pipeline."""
    client = Client()
    name = _pipeline(pipeline, app, client)
    body: dict[str, bool] = {}
    if autodeploy:
        body["automatic_review_apps"] = True
    if autodestroy:
        body["destroy_stale_apps"] = True
    with action(f"Enabling review apps on {name} pipeline"):
        config = client.post(f"/pipelines/{name}/review-app-config", json=body)
    _show_config(config)
    if not config["automatic_review_apps"]:
        echo("Branches pushed make no review app until --autodeploy is on.")


def _disable(pipeline: str | None, app: str | None, autodeploy: bool, autodestroy: bool) -> None:
    """Disable review apps (destroying them), or only the given settings."""
    client = Client()
    name = _pipeline(pipeline, app, client)
    if autodeploy or autodestroy:
        body = {}
        if autodeploy:
            body["automatic_review_apps"] = False
        if autodestroy:
            body["destroy_stale_apps"] = False
        with action(f"Configuring {name} pipeline"):
            config = client.patch(f"/pipelines/{name}/review-app-config", json=body)
        _show_config(config)
        return
    with action(f"Disabling review apps on {name} pipeline (its review apps are destroyed)"):
        Client(timeout=3600).delete(f"/pipelines/{name}/review-app-config")


def _settings_command(cli: click.Group, name: str, fn: Callable[..., None], hidden: bool, verb: str) -> None:
    @cli.command(name, hidden=hidden, help=fn.__doc__)
    @pipeline_option
    @app_option()
    @click.option("--autodeploy", is_flag=True, help=f"{verb} automatic review apps (one per pushed branch)")
    @click.option("--autodestroy", is_flag=True, help=f"{verb} destroying stale review apps")
    def command(pipeline: str | None, app: str | None, autodeploy: bool, autodestroy: bool) -> None:
        fn(pipeline, app, autodeploy, autodestroy)


def register(cli: click.Group) -> None:
    for prefix, hidden in (("pipelines:review-apps", False), ("reviewapps", True)):
        _settings_command(cli, f"{prefix}:enable", _enable, hidden, "turn on")
        _settings_command(cli, f"{prefix}:disable", _disable, hidden, "turn off")

    @cli.command("reviewapps")
    @pipeline_option
    @app_option()
    @json_option()
    def reviewapps(pipeline: str | None, app: str | None, as_json: bool) -> None:
        """List review apps (of a pipeline, or all of them)."""
        client = Client()
        name = pipeline or (_pipeline(None, app, client) if app else None)
        data = client.get(f"/pipelines/{name}/review-apps" if name else "/review-apps")
        if as_json:
            print_json(data)
            return
        header(f"{name} review apps" if name else "Review apps")
        if not data:
            echo("No review apps. Push a branch to an app of a pipeline with review apps enabled.")
            return
        rows = [
            [
                r["app"]["name"],
                r["branch"],
                r["status"],
                (r["source_blob"]["version"] or "")[:8],
                r["web_url"],
            ]
            for r in data
        ]
        table(rows, ["App", "Branch", "Status", "Commit", "Web URL"])

    @cli.command("reviewapps:destroy")
    @click.argument("target", metavar="BRANCH|APP")
    @pipeline_option
    def reviewapps_destroy(target: str, pipeline: str | None) -> None:
        """Destroy a review app (its pr-predestroy script runs first; its add-ons go)."""
        params = {"pipeline": pipeline} if pipeline else {}
        client = Client(timeout=3600)
        review = client.get(f"/review-apps/{target}", params=params)
        with action(f"Destroying review app {APP_GLYPH} {review['app']['name']} (branch {review['branch']})"):
            gone = client.delete(f"/review-apps/{review['id']}")
        for line in gone.get("output") or []:
            echo(line)
