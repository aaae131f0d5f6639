"""Bare app repositories under `settings.repos_dir`: creation, the pre-receive hook, checkout.

One bare repository per app, `<repos_dir>/<app>.git`, created on first use. It remembers the
id of the app it belongs to (`git config paas.appid`), so an app destroyed and created again
under the same name starts with an empty repository rather than the old app's history.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from paas.builds.compile import BuildFailed
from paas.builds.source import SourceError, SourceLimits, extract_stream

HOOK_SOURCE = Path(__file__).with_name("git_hook.py")
ALLOWED_GIT_ENV = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH")


def git_env() -> dict[str, str]:
    """A clean environment for git: no user config, no prompts, nothing inherited from a hook."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _git(args: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=dict(env) if env else git_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise BuildFailed(f"git {args[0]} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def hook_text() -> str:
    # -S: the hook is standard library only; skipping site (and the venv's .pth files) starts faster
    return f"#!{sys.executable} -S\n" + HOOK_SOURCE.read_text()


def repo_path(repos_dir: Path, app: str) -> Path:
    return repos_dir / f"{app}.git"


def ensure_repo(repos_dir: Path, app: str, app_id: str) -> Path:
    """Create (or recreate for a new app of the same name) the bare repo; install the hook."""
    path = repo_path(repos_dir, app)
    if path.is_dir():
        owner = subprocess.run(
            ["git", "config", "--file", str(path / "config"), "paas.appid"], capture_output=True, text=True
        ).stdout.strip()
        if owner != app_id:
            shutil.rmtree(path)
    if not path.is_dir():
        repos_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        _git(["init", "--quiet", "--bare", "--initial-branch=main", str(tmp)])
        # no `git gc --auto` after each push: it costs a process per push and the repos stay small
        for key, value in (
            ("paas.appid", app_id),
            ("http.receivepack", "true"),
            ("receive.denyDeleteCurrent", "refuse"),
            ("gc.auto", "0"),
            ("receive.autogc", "false"),
        ):
            _git(["config", "--file", str(tmp / "config"), key, value])
        tmp.rename(path)
    if "autogc" not in (path / "config").read_text():  # repositories made before the setting existed
        _git(["config", "--file", str(path / "config"), "receive.autogc", "false"])
    hook = path / "hooks" / "pre-receive"
    text = hook_text()
    if not hook.is_file() or hook.read_text() != text:
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(text)
        hook.chmod(0o755)
    return path


def remove_repo(repos_dir: Path, app: str) -> None:
    shutil.rmtree(repo_path(repos_dir, app), ignore_errors=True)


async def export_commit(
    repo: Path, commit: str, dest: Path, quarantine: Mapping[str, str], limits: SourceLimits | None = None
) -> None:
    """Write the tree of `commit` into `dest` (`git archive`, extracted with the same bounds as
    an uploaded source), reading the objects a pre-receive hook still holds in quarantine."""
    if not all(c in "0123456789abcdef" for c in commit) or len(commit) not in (40, 64):
        raise BuildFailed(f"not a commit id: {commit!r}")
    env = git_env()
    env["GIT_DIR"] = str(repo)
    for key in ALLOWED_GIT_ENV:
        value = quarantine.get(key)
        if value:
            if not _inside(Path(value.split(os.pathsep)[0]), repo):
                raise BuildFailed(f"{key} must point inside the app's repository")
            env[key] = value
    await asyncio.to_thread(_export, env, commit, dest, limits or SourceLimits())


def _export(env: dict[str, str], commit: str, dest: Path, limits: SourceLimits) -> None:
    # a file, not a pipe, for stderr: nobody reads it while the tree streams through stdout
    with tempfile.TemporaryFile() as errors:
        archive = subprocess.Popen(
            ["git", "archive", "--format=tar", commit], stdout=subprocess.PIPE, stderr=errors, env=env
        )
        assert archive.stdout is not None
        try:
            extract_stream(archive.stdout, dest, limits)
        except SourceError as exc:
            archive.kill()
            raise BuildFailed(str(exc)) from None
        finally:
            archive.stdout.close()
            status = archive.wait()
        if status != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise BuildFailed(f"could not read commit {commit[:8]}: {message}")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
