"""logs [-n N] [-t] [-s app|heroku] [-d DYNO]."""

from __future__ import annotations

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, resolve_app
from paas.cli.ui import echo


def register(cli: click.Group) -> None:
    @cli.command("logs")
    @app_option()
    @click.option("-n", "--num", "num", type=int, default=100, help="number of lines to display (max 1500)")
    @click.option("-t", "--tail", is_flag=True, help="continually stream logs")
    @click.option("-s", "--source", default=None, help="only show output from this source (app, heroku)")
    @click.option(
        "-d", "--dyno", "--ps", "dyno", default=None, help="only show output from this dyno type or name"
    )
    def logs(app: str | None, num: int, tail: bool, source: str | None, dyno: str | None) -> None:
        """Display recent log output."""
        name = resolve_app(app)
        if source not in (None, "app", "heroku"):
            raise CliError("--source must be app or heroku")
        if not 0 <= num <= 1500:
            raise CliError("--num must be between 0 and 1500")
        params: dict[str, object] = {"lines": num, "tail": "true" if tail else "false"}
        if source:
            params["source"] = source
        if dyno:
            params["dyno"] = dyno
        try:
            for line in Client().stream_lines(f"/apps/{name}/log-stream", params=params, timeout=None):
                echo(line)
        except KeyboardInterrupt:
            return
