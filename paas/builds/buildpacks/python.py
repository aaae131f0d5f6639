"""The Python buildpack: a virtual environment inside the slug, built with the host's python3.

The slug gets `.heroku/python` (a `venv --copies`, so it does not depend on the build
directory) and `.profile.d/python.sh` putting it first on `PATH`, so `web: python app.py` runs
with the app's dependencies. The environment is cached per app in `ctx.cache_dir/python`, keyed
by the hash of the dependency manifests and the interpreter: a push that does not change them
reuses it (hard links into the slug, no pip run at all).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from paas.builds.buildpacks.common import (
    CacheSlot,
    copy_source_to_slug,
    copy_tree,
    detail,
    files_digest,
    run_tool,
    step,
    write_profile_script,
)
from paas.builds.compile import BuildContext

MANIFESTS = ("requirements.txt", "pyproject.toml", "uv.lock")
KEY_FILES = (*MANIFESTS, "setup.py", "setup.cfg", ".python-version", "runtime.txt")
VENV_IN_SLUG = Path(".heroku") / "python"
PIP_QUIET = ("WARNING: Location 'file://",)  # the machine's pip config names an index that may be absent
PROFILE = """\
# written by the paas Python buildpack
export PATH="$HOME/.heroku/python/bin:$PATH"
export VIRTUAL_ENV="$HOME/.heroku/python"
export PYTHONUNBUFFERED="${PYTHONUNBUFFERED:-1}"
unset PYTHONHOME
"""


@functools.lru_cache(maxsize=1)
def host_python() -> tuple[str, str]:
    """(path, version) of the interpreter slugs are built with: $PAAS_BUILD_PYTHON or python3.

    Resolved through the interpreter itself so shims (pyenv) are followed once, not per dyno.
    """
    candidate = os.environ.get("PAAS_BUILD_PYTHON") or shutil.which("python3") or sys.executable
    try:
        out = subprocess.run(
            [
                candidate,
                "-c",
                "import sys, platform; print(sys.executable); print(platform.python_version())",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
        )
        path, version = out.stdout.split()
        return path, version
    except (OSError, ValueError, subprocess.SubprocessError):
        return sys.executable, ".".join(map(str, sys.version_info[:3]))


def requested_version(source: Path) -> str | None:
    for name in (".python-version", "runtime.txt"):
        path = source / name
        if path.is_file():
            text = path.read_text("utf-8", "replace").strip().splitlines()
            if text:
                return text[0].strip().removeprefix("python-")
    return None


def fix_shebangs(bin_dir: Path) -> None:
    """Console scripts point at the interpreter by absolute path; make them follow PATH instead."""
    for entry in bin_dir.iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        try:
            with entry.open("rb") as f:
                head = f.read(256)
        except OSError:
            continue
        if not head.startswith(b"#!") or b"python" not in head.split(b"\n", 1)[0]:
            continue
        data = entry.read_bytes()
        _first, _, rest = data.partition(b"\n")
        entry.write_bytes(b"#!/usr/bin/env python3\n" + rest)


class PythonBuildpack:
    name = "Python"

    def detect(self, source_dir: Path) -> bool:
        return any((source_dir / m).is_file() for m in MANIFESTS)

    async def compile(self, ctx: BuildContext) -> None:
        python, version = await asyncio.to_thread(host_python)
        wanted = requested_version(ctx.source_dir)
        step(ctx, f"Using Python {version} (the host's python3)")
        if wanted and not version.startswith(wanted.rstrip(".x*")):
            detail(ctx, f"Warning: the app asks for Python {wanted}; this machine builds with {version}.")
        await copy_source_to_slug(ctx)
        key = await asyncio.to_thread(files_digest, ctx.source_dir, KEY_FILES, (python, version))
        slot = CacheSlot(ctx, "python")
        if slot.valid_for(key):
            step(ctx, "Restoring cache")
            detail(
                ctx,
                f"Dependencies unchanged (manifest sha256 {key[:12]}): reusing the cached virtual environment",
            )
        else:
            if slot.tree.is_dir():
                step(ctx, "Dependencies changed: building a new virtual environment")
            await self._build_venv(ctx, slot, python, key)
        await copy_tree(slot.tree, ctx.slug_dir / VENV_IN_SLUG, hardlink=True)
        write_profile_script(ctx, "python.sh", PROFILE)

    async def _build_venv(self, ctx: BuildContext, slot: CacheSlot, python: str, key: str) -> None:
        venv = slot.start()
        try:
            step(ctx, "Creating virtual environment")
            await run_tool(
                ctx,
                [python, "-m", "venv", "--copies", "--without-pip", str(venv)],
                cwd=ctx.source_dir,
                failure="Could not create a virtual environment with the host's python3",
            )
            target = str(venv / "bin" / "python")
            env = dict(os.environ)
            env["PIP_CACHE_DIR"] = str(ctx.cache_dir / "pip-cache")
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            env["PIP_NO_INPUT"] = "1"
            env.pop("VIRTUAL_ENV", None)
            pip = [sys.executable, "-m", "pip", "--python", target, "install", "--progress-bar", "off"]
            if (ctx.source_dir / "requirements.txt").is_file():
                step(ctx, "Installing requirements with pip")
                args = [*pip, "-r", "requirements.txt"]
            else:
                step(ctx, "Installing dependencies from pyproject.toml with pip")
                if (ctx.source_dir / "uv.lock").is_file():
                    detail(ctx, "uv.lock found; installing the project's declared dependencies with pip")
                args = [*pip, "."]
            await run_tool(
                ctx,
                args,
                cwd=ctx.source_dir,
                env=env,
                quiet_prefixes=PIP_QUIET,
                failure="Failed to install the app's Python dependencies (see pip's output above)",
            )
            await asyncio.to_thread(fix_shebangs, venv / "bin")
            step(ctx, "Saving cache")
            await asyncio.to_thread(slot.commit, key)
        except BaseException:
            await asyncio.to_thread(slot.abandon)
            raise
