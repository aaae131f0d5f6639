"""`paas apps:create NAME --from PATH`: set a new app up from a directory or a git repository
with an app.json (config vars, add-ons, formation, postdeploy), like a Heroku Button.

PATH is a local directory (its working tree is used, as `paas deploy` does) or anything
`git clone` accepts (a URL, `file://...`, or a path ending in `.git`), cloned shallowly first.
The daemon validates app.json before changing anything (`POST /apps/<app>/app-setups`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import click

from paas.cli.client import Client, CliError
from paas.cli.cmd_deploy import git_commit, make_tarball
from paas.cli.ui import echo


def is_repository_url(path: str) -> bool:
    return (
        "://" in path
        or path.startswith("git@")
        or (path.endswith(".git") and not Path(path, ".git").is_dir() and not Path(path, "app.json").exists())
    )


def clone(url: str, dest: Path) -> None:
    click.echo(f"Cloning {url}...", err=True)
    try:
        result = subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", url, str(dest)],
            capture_output=True,
            text=True,
            timeout=600,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    except FileNotFoundError:
        raise CliError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise CliError(f"cloning {url} took longer than 10 minutes") from None
    if result.returncode != 0:
        raise CliError(f"could not clone {url}: {result.stderr.strip()}")


def create_from(client: Client, app_name: str, path: str) -> None:
    with tempfile.TemporaryDirectory(prefix="paas-setup-") as tmp:
        if is_repository_url(path):
            source = Path(tmp) / "repo"
            clone(path, source)
        else:
            source = Path(path)
            if not source.is_dir():
                raise CliError(f"{path} is neither a directory nor a git repository URL")
        archive = Path(tmp) / "source.tar.gz"
        version = make_tarball(source, archive)
        version = git_commit(source) or version
        click.echo(f"Uploading source ({archive.stat().st_size / 1024:.0f} KB)...", err=True)
        with archive.open("rb") as f:
            blob = client.post(
                f"/apps/{app_name}/sources", content=f, headers={"Content-Type": "application/gzip"}
            )
    long_client = Client(url=client.url, token=client.token, timeout=3600)
    try:
        setup = long_client.post(
            f"/apps/{app_name}/app-setups",
            json={"source_blob": {"url": blob["source_blob"]["url"], "version": version}},
        )
    except CliError as exc:
        raise CliError(
            f"{exc.message} (the app {app_name} was created but nothing was changed in it)"
        ) from None
    for line in long_client.stream_lines(f"/apps/{app_name}/app-setups/{setup['id']}/output", timeout=None):
        echo(line)
    final = long_client.get(f"/apps/{app_name}/app-setups/{setup['id']}")
    if final["status"] != "succeeded":
        raise CliError(
            f"App setup of {app_name} failed: {final.get('failure_message') or 'see the output above'}"
        )
