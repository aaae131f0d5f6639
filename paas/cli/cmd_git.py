"""git:remote, git:clone and the credential helper that lets `git push paas main` authenticate.

Authentication: the daemon's git endpoint takes HTTP basic auth whose password is the local
API token. `git:remote` installs a git credential helper for the daemon's address in the
repository's own config (`credential.<api url>.helper = !PAAS_HOME=... python -S
.../paas/cli/git_credential.py`, also reachable as the hidden `paas git:credentials`),
so the token never appears in the remote URL or in `git remote -v`, and a new token is picked
up without touching the remote.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from paas.cli.client import Client, CliError, paas_home
from paas.cli.main import app_option, resolve_app
from paas.cli.ui import echo

REMOTE_NAME = "paas"


def _git(*args: str, cwd: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, timeout=60)
    except FileNotFoundError:
        raise CliError("git is not installed") from None
    if check and result.returncode != 0:
        raise CliError(result.stderr.strip() or f"git {args[0]} failed")
    return result


def credential_scope(git_url: str) -> str:
    parts = urlsplit(git_url)
    return f"{parts.scheme}://{parts.netloc}"


def helper_command() -> str:
    """`!PAAS_HOME=... <python> -S .../paas/cli/git_credential.py`: a light, stdlib-only helper
    (run as a file without site: no package imports, no .pth processing, fast on every push)."""
    from paas.cli import git_credential

    home = shlex.quote(str(paas_home()))
    script = shlex.quote(str(Path(git_credential.__file__).resolve()))
    return f"!PAAS_HOME={home} {shlex.quote(sys.executable)} -S {script}"


def install_credential_helper(git_url: str, cwd: str | None = None) -> str:
    scope = credential_scope(git_url)
    key = f"credential.{scope}.helper"
    helper = helper_command()
    _git("config", "--local", "--unset-all", key, cwd=cwd, check=False)
    _git("config", "--local", "--add", key, "", cwd=cwd)  # an empty helper resets any inherited ones
    _git("config", "--local", "--add", key, helper, cwd=cwd)
    _git("config", "--local", f"credential.{scope}.username", "paas", cwd=cwd)
    return scope


def set_remote(git_url: str, remote: str, cwd: str | None = None) -> None:
    existing = _git("remote", "get-url", remote, cwd=cwd, check=False)
    if existing.returncode == 0:
        _git("remote", "set-url", remote, git_url, cwd=cwd)
    else:
        _git("remote", "add", remote, git_url, cwd=cwd)


def register(cli: click.Group) -> None:
    @cli.command("git:remote")
    @app_option()
    @click.option("-r", "--remote", default=REMOTE_NAME, show_default=True, help="the git remote to create")
    def git_remote(app: str | None, remote: str) -> None:
        """Add a git remote for an app (then: git push paas main)."""
        name = resolve_app(app)
        if _git("rev-parse", "--git-dir", check=False).returncode != 0:
            raise CliError("Not a git repository: run git init first (or cd into your app's repository).")
        git_url = Client().get(f"/apps/{name}")["git_url"]
        set_remote(git_url, remote)
        install_credential_helper(git_url)
        echo(f"set git remote {remote} to {git_url}")

    @cli.command("git:clone")
    @app_option()
    @click.option("-r", "--remote", default=REMOTE_NAME, show_default=True, help="the git remote to create")
    @click.argument("directory", required=False)
    def git_clone(app: str | None, remote: str, directory: str | None) -> None:
        """Clone the app's repository (what was last pushed) into DIRECTORY."""
        name = resolve_app(app)
        git_url = Client().get(f"/apps/{name}")["git_url"]
        target = directory or name
        if os.path.exists(target):
            raise CliError(f"{target} already exists.")
        env = dict(os.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"
        scope = credential_scope(git_url)
        helper = helper_command()
        result = subprocess.run(
            [
                "git",
                "-c",
                f"credential.{scope}.helper=",
                "-c",
                f"credential.{scope}.helper={helper}",
                "clone",
                "--origin",
                remote,
                git_url,
                target,
            ],
            env=env,
            text=True,
        )
        if result.returncode != 0:
            raise CliError(f"git clone of {name} failed")
        install_credential_helper(git_url, cwd=target)
        echo(f"Cloned {name} into {target}; remote {remote} set to {git_url}")

    @cli.command("git:credentials", hidden=True)
    @click.argument("operation", required=False, default="get")
    def git_credentials(operation: str) -> None:
        """git credential helper: answers `get` with the local API token."""
        from paas.cli.git_credential import main

        sys.exit(main(["git:credentials", operation]))
