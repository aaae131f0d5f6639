"""The `paas` command: Heroku's `topic:command` names, `-a/--app`, `--json`, ` ›   Error:` lines.

Each capability registers its commands in a module `paas/cli/cmd_<part>.py` exposing
`register(cli: click.Group)` (define commands inside with `@cli.command("topic:cmd")`); modules
are discovered automatically, so adding one needs NO edit here. Helpers to reuse:
`app_option()`, `resolve_app(app)`, `json_option()` from here; `Client` / `CliError` from
`paas.cli.client`; `action`, `header`, `key_values`, `table`, `print_json` from `paas.cli.ui`.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from paas.cli.client import CliError
from paas.cli.ui import error_line

EXIT_UNKNOWN_COMMAND = 127


class PaasGroup(click.Group):
    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            commands = self.list_commands(ctx)
            suggestion = difflib.get_close_matches(name, commands, n=1, cutoff=0.5)
            error_line(f"{name} is not a paas command.")
            if suggestion:
                click.echo(f"Did you mean {suggestion[0]}?", err=True)
            click.echo("Run paas help for a list of available commands.", err=True)
            ctx.exit(EXIT_UNKNOWN_COMMAND)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            error_line(exc.message)
            ctx.exit(exc.code)
        except KeyboardInterrupt:
            ctx.exit(130)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(70)))
        if rows:
            with formatter.section("COMMANDS"):
                formatter.write_dl(rows)


@click.group(cls=PaasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paas", prog_name="paas", message="paas/%(version)s")
def cli() -> None:
    """paas: a local Heroku — router, dynos, deploys, Postgres, Kafka, logs."""


@cli.command("help", hidden=True)
@click.argument("topic", required=False)
@click.pass_context
def help_(ctx: click.Context, topic: str | None) -> None:
    """Show help."""
    parent = ctx.parent
    assert parent is not None
    if topic:
        cmd = cli.get_command(ctx, topic)
        if cmd is None:
            raise CliError(f"{topic} is not a paas command.", EXIT_UNKNOWN_COMMAND)
        with click.Context(cmd, info_name=topic, parent=parent) as sub:
            click.echo(cmd.get_help(sub))
        return
    click.echo(cli.get_help(parent))


FC = TypeVar("FC", bound=Callable[..., Any])


def app_option(required: bool = True) -> Callable[[FC], FC]:
    return click.option(
        "-a", "--app", "app", envvar="PAAS_APP", default=None, help="app to run command against"
    )


def resolve_app(app: str | None, required: bool = True) -> str:
    """-a/--app, else PAAS_APP, else the app of the git remote named `paas`."""
    if app:
        return app
    remote = git_remote_app()
    if remote:
        return remote
    if required:
        raise CliError("Missing required flag -a, --app: app to run command against")
    return ""


def git_remote_app() -> str | None:
    try:
        url = subprocess.run(
            ["git", "config", "--get", "remote.paas.url"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not url:
        return None
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail[:-4] if tail.endswith(".git") else tail or None


def json_option() -> Callable[[FC], FC]:
    return click.option("--json", "as_json", is_flag=True, help="output in json format")


def _load_commands() -> None:
    import paas.cli as package

    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("cmd_")):
        mod = importlib.import_module(f"paas.cli.{module}")
        register = getattr(mod, "register", None)
        if register is not None:
            register(cli)


_load_commands()


def main() -> None:
    # A broken pipe (paas logs | head) is not an error worth a traceback.
    try:
        cli.main(prog_name="paas", standalone_mode=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
