"""`paas deploy [DIR]`: upload a directory as a source archive, build, release."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import click

from paas.cli.client import Client, CliError
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import echo, print_json

SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def make_tarball(directory: Path, dest: Path) -> str:
    """Write a gzipped tar of directory; returns a content hash used as the version."""
    digest = hashlib.sha1()

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if any(p in SKIP_DIRS for p in parts):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        digest.update(info.name.encode())
        digest.update(str(info.size).encode())
        digest.update(str(int(info.mtime)).encode())
        return info

    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        for entry in sorted(os.listdir(directory)):
            tar.add(directory / entry, arcname=entry, filter=keep)
    return digest.hexdigest()


def git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = subprocess.run(
        ["git", "-C", str(directory), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    return out.stdout.strip() if out.returncode == 0 and not dirty.strip() else None


def register(cli: click.Group) -> None:
    @cli.command("deploy")
    @click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
    @app_option()
    @json_option()
    def deploy(directory: Path, app: str | None, as_json: bool) -> None:
        """Deploy a directory: upload it, build it into a slug, release it."""
        name = resolve_app(app)
        if not directory.is_dir():
            raise CliError(f"{directory} is not a directory")
        client = Client(timeout=600)
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "source.tar.gz"
            version = git_commit(directory) or make_tarball(directory, archive)
            if not archive.exists():
                make_tarball(directory, archive)
            click.echo(f"Uploading source ({archive.stat().st_size / 1024:.0f} KB)...", err=True)
            with archive.open("rb") as f:
                source = client.post(
                    f"/apps/{name}/sources", content=f, headers={"Content-Type": "application/gzip"}
                )
        build = client.post(
            f"/apps/{name}/builds",
            json={"source_blob": {"url": source["source_blob"]["url"], "version": version}},
        )
        for line in client.stream_lines(f"/apps/{name}/builds/{build['id']}/output", timeout=None):
            if not as_json:
                echo(line)
        final = client.get(f"/apps/{name}/builds/{build['id']}")
        if as_json:
            print_json(final)
        if final["status"] != "succeeded":
            raise CliError("Build failed; the running release is unchanged.")
