"""pg:info, pg:psql, pg:reset, pg:credentials:url."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json

PSQL_CANDIDATES = ("/usr/bin/psql",)


def _database(client: Client, app: str, database: str | None) -> str:
    """The add-on to use: the one named, else the DATABASE attachment, else the only one."""
    if database:
        return database
    dbs = client.get(f"/apps/{app}/addons")
    pg = [a for a in dbs if a["addon_service"]["name"] == "heroku-postgresql"]
    if not pg:
        raise CliError(f"{APP_GLYPH} {app} has no databases.")
    primary = [a for a in pg if a["attachment"] == "DATABASE"]
    return str((primary or pg)[0]["name"])


def find_psql() -> str:
    found = shutil.which("psql")
    for candidate in (found, *PSQL_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise CliError("The local psql command could not be located. Install the PostgreSQL client (psql).")


def _info_pairs(d: dict[str, Any]) -> list[tuple[str, Any]]:
    """The rows the daemon formats for pg:info (the same the official CLI prints)."""
    rows = [(row["name"], ", ".join(row["values"])) for row in d["info"]]
    return [*rows, ("Add-on", d["addon"]["name"])]


def register(cli: click.Group) -> None:
    @cli.command("pg:info")
    @click.argument("database", required=False)
    @app_option()
    @json_option()
    def pg_info(database: str | None, app: str | None, as_json: bool) -> None:
        """Show database information."""
        target = resolve_app(app)
        client = Client()
        data = [client.get(f"/apps/{target}/pg/{database}")] if database else client.get(f"/apps/{target}/pg")
        if as_json:
            print_json(data)
            return
        if not data:
            raise CliError(f"{APP_GLYPH} {target} has no heroku-postgresql databases.")
        for n, d in enumerate(data):
            if n:
                echo()
            header(", ".join(d["config_vars"]) or d["attachment"] + "_URL")
            key_values(_info_pairs(d))

    @cli.command("pg:credentials:url")
    @click.argument("database", required=False)
    @app_option()
    @json_option()
    def pg_credentials_url(database: str | None, app: str | None, as_json: bool) -> None:
        """Show information on a database credential."""
        target = resolve_app(app)
        client = Client()
        c = client.get(f"/apps/{target}/pg/{_database(client, target, database)}/credentials")
        if as_json:
            print_json(c)
            return
        echo("Connection information for default credential.")
        echo("Connection info string:")
        echo(
            f'   "dbname={c["database"]} host={c["host"]} port={c["port"]} user={c["user"]} password={c["password"]}"'
        )
        echo("Connection URL:")
        echo(f"   {c['url']}")

    @cli.command("pg:reset")
    @click.argument("database", required=False)
    @app_option()
    @click.option("--confirm", default=None, help="set to app name to bypass the confirm prompt")
    def pg_reset(database: str | None, app: str | None, confirm: str | None) -> None:
        """Delete all data in a database."""
        target = resolve_app(app)
        client = Client(timeout=120)
        name = _database(client, target, database)
        if confirm != target:
            raise CliError(
                f"Confirmation did not match {target}. This command will remove all data from {name}; "
                f"pass --confirm {target} to proceed."
            )
        with action(f"Resetting {name}"):
            client.post(f"/apps/{target}/pg/{name}/reset")

    @cli.command("pg:psql", context_settings={"ignore_unknown_options": False})
    @click.argument("database", required=False)
    @app_option()
    @click.option("-c", "--command", "command", default=None, help="SQL command to run")
    @click.option("-f", "--file", "file", default=None, help="SQL file to run")
    def pg_psql(database: str | None, app: str | None, command: str | None, file: str | None) -> None:
        """Open a psql shell to the database."""
        target = resolve_app(app)
        client = Client()
        name = _database(client, target, database)
        creds = client.get(f"/apps/{target}/pg/{name}/credentials")
        psql = find_psql()
        click.echo(f"--> Connecting to {creds['addon']}", err=True)
        args = [psql, creds["url"], "--set", "sslmode=disable"]
        if command is not None:
            args += ["-c", command]
        if file is not None:
            args += ["-f", file]
        env = dict(os.environ, PGAPPNAME=f"paas pg:psql {target}")
        if command is None and file is None and sys.stdin.isatty():
            os.execve(psql, args, env)  # interactive: psql owns the terminal from here on
        result = subprocess.run(args, env=env)
        if result.returncode != 0:
            sys.exit(result.returncode)
