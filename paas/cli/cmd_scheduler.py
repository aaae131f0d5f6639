"""scheduler:jobs, scheduler:jobs:create, :update, :destroy, :run (Heroku Scheduler).

Times are UTC; `Next run` is when the daemon will start the job next (runs missed while it
was down are not replayed).
"""

from __future__ import annotations

from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, print_json, table

EVERY_HELP = "how often: 10m, 1h or 1d"
AT_HELP = "when: :MM for hourly jobs, HH:MM (UTC) for daily ones"


def _when(iso: str | None) -> str:
    return iso.replace("T", " ").replace("Z", " UTC") if iso else "never"


def _last(job: dict[str, Any]) -> str:
    if not job["last_run_at"]:
        return "never"
    return f"{_when(job['last_run_at'])} ({job['last_dyno']}, {job['last_outcome']})"


def _list(name: str, as_json: bool) -> None:
    jobs = Client().get(f"/apps/{name}/scheduler/jobs")
    if as_json:
        print_json(jobs)
        return
    if not jobs:
        echo(f"{APP_GLYPH} {name} has no scheduled jobs. Add one with paas scheduler:jobs:create.")
        return
    header(f"{APP_GLYPH} {name} Scheduled Jobs")
    echo()
    rows = [
        (j["id"], j["schedule"], j["dyno_size"], _when(j["next_run_at"]), _last(j), j["command"])
        for j in jobs
    ]
    table(rows, ("Job ID", "Schedule", "Dyno Size", "Next Run", "Last Run", "Command"))


def _body(command: str | None, every: str | None, at: str | None, size: str | None) -> dict[str, Any]:
    body = {"command": command, "every": every, "at": at, "dyno_size": size}
    return {k: v for k, v in body.items() if v is not None}


def register(cli: click.Group) -> None:
    @cli.command("scheduler:jobs")
    @app_option()
    @json_option()
    def jobs(app: str | None, as_json: bool) -> None:
        """List the app's scheduled jobs, their next and last runs."""
        _list(resolve_app(app), as_json)

    @cli.command("scheduler:jobs:create")
    @click.argument("command")
    @app_option()
    @click.option("--every", default="10m", show_default=True, help=EVERY_HELP)
    @click.option("--at", "at", default=None, help=AT_HELP)
    @click.option("--dyno-size", "size", default=None, help="dyno size (e.g. standard-2x)")
    @json_option()
    def create(
        command: str, app: str | None, every: str, at: str | None, size: str | None, as_json: bool
    ) -> None:
        """Create a scheduled job: paas scheduler:jobs:create "bin/task" --every 1h --at :30."""
        name = resolve_app(app)
        with action(f"Creating job on {APP_GLYPH} {name}") as result:
            job = Client().post(f"/apps/{name}/scheduler/jobs", json=_body(command, every, at, size))
            result["suffix"] = f"{job['schedule']}, next run {_when(job['next_run_at'])}"
        if as_json:
            print_json(job)
            return
        echo(f"Created job {job['id']}")

    @cli.command("scheduler:jobs:update")
    @click.argument("job_id")
    @app_option()
    @click.option("--command", default=None, help="the command to run")
    @click.option("--every", default=None, help=EVERY_HELP)
    @click.option("--at", "at", default=None, help=AT_HELP)
    @click.option("--dyno-size", "size", default=None, help="dyno size (e.g. standard-2x)")
    def update(
        job_id: str, app: str | None, command: str | None, every: str | None, at: str | None, size: str | None
    ) -> None:
        """Update a scheduled job's command, frequency or dyno size."""
        name = resolve_app(app)
        body = _body(command, every, at, size)
        if not body:
            raise CliError("Nothing to update: give --command, --every, --at or --dyno-size.")
        with action(f"Updating job {job_id} on {APP_GLYPH} {name}") as result:
            job = Client().patch(f"/apps/{name}/scheduler/jobs/{job_id}", json=body)
            result["suffix"] = f"{job['schedule']}, next run {_when(job['next_run_at'])}"

    @cli.command("scheduler:jobs:destroy")
    @click.argument("job_id")
    @app_option()
    def destroy(job_id: str, app: str | None) -> None:
        """Destroy a scheduled job."""
        name = resolve_app(app)
        with action(f"Destroying job {job_id} on {APP_GLYPH} {name}"):
            Client().delete(f"/apps/{name}/scheduler/jobs/{job_id}")

    @cli.command("scheduler:jobs:run")
    @click.argument("job_id")
    @app_option()
    def run(job_id: str, app: str | None) -> None:
        """Run a scheduled job now (its schedule is unchanged)."""
        name = resolve_app(app)
        with action(f"Running job {job_id} on {APP_GLYPH} {name}") as result:
            dyno = Client().post(f"/apps/{name}/scheduler/jobs/{job_id}/actions/run")
            result["suffix"] = f"up, {dyno['name']}"
        echo(f"Run paas logs --app {name} --dyno {dyno['name']} to view the output.")
