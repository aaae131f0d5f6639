"""Helpers every buildpack uses: copy the source into the slug, run a tool with its output
indented under the step, hash dependency manifests, keep a cache directory between builds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from paas.builds.compile import BuildContext, BuildFailed

INDENT = "       "
MAX_TOOL_LINE = 2000  # a tool line longer than this is cut (progress bars without newlines)


def step(ctx: BuildContext, text: str) -> None:
    ctx.out(f"-----> {text}")


def detail(ctx: BuildContext, text: str) -> None:
    ctx.out(f"{INDENT}{text}")


async def copy_tree(source: Path, target: Path, hardlink: bool = False) -> None:
    """`cp -a` (or `cp -al`: hard links, for immutable cached trees): much faster than copytree."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        await asyncio.to_thread(shutil.rmtree, target)
    args = ["cp", "-al" if hardlink else "-a", "--", str(source), str(target)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0 and hardlink:  # another filesystem: hard links are impossible
        await asyncio.to_thread(shutil.rmtree, target, True)
        await copy_tree(source, target, hardlink=False)
        return
    if proc.returncode != 0:
        raise BuildFailed(f"Could not copy {source.name}: {err.decode(errors='replace').strip()}")


async def copy_source_to_slug(ctx: BuildContext) -> None:
    await copy_tree(ctx.source_dir, ctx.slug_dir)


def files_digest(root: Path, names: Iterable[str], extra: Iterable[str] = ()) -> str:
    """A hash of the named files' contents (missing files count as absent) plus extra strings."""
    digest = hashlib.sha256()
    for name in names:
        path = root / name
        digest.update(name.encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
        digest.update(b"\0\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()


async def run_tool(
    ctx: BuildContext,
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    failure: str | None = None,
    quiet_prefixes: tuple[str, ...] = (),
) -> None:
    """Run a build tool; each output line is shown indented. A non-zero exit fails the build."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise BuildFailed(f"{argv[0]} is not installed on this machine") from None
    assert proc.stdout is not None
    try:
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip()
            if line and not line.startswith(quiet_prefixes):
                detail(ctx, line[:MAX_TOOL_LINE])
        code = await proc.wait()
    except BaseException:  # build timeout or daemon stop: the tool's whole group goes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        raise
    if code != 0:
        raise BuildFailed(failure or f"{Path(argv[0]).name} exited with status {code}")


def write_profile_script(ctx: BuildContext, name: str, text: str) -> None:
    """A `.profile.d/<name>` script, sourced by every dyno before its command (as on Heroku)."""
    profile = ctx.slug_dir / ".profile.d"
    profile.mkdir(exist_ok=True)
    (profile / name).write_text(text)


class CacheSlot:
    """One cached tree in `ctx.cache_dir/<name>`, valid for one key (e.g. a manifest hash).

    The tree is built in a sibling directory and swapped in only when complete, so a failed or
    interrupted build never leaves a half-filled cache behind. Cached trees are never modified
    after the swap; slugs may hard-link to their files.
    """

    def __init__(self, ctx: BuildContext, name: str):
        self.root = ctx.cache_dir / name
        self.tree = self.root / "tree"
        self.key_file = self.root / "key"
        self.building = self.root / "tree.new"

    def valid_for(self, key: str) -> bool:
        try:
            return self.tree.is_dir() and self.key_file.read_text().strip() == key
        except OSError:
            return False

    def start(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.building, ignore_errors=True)
        return self.building

    def commit(self, key: str) -> None:
        self.key_file.unlink(missing_ok=True)
        old = self.root / "tree.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.tree.exists():
            self.tree.rename(old)
        self.building.rename(self.tree)
        self.key_file.write_text(key + "\n")
        shutil.rmtree(old, ignore_errors=True)

    def abandon(self) -> None:
        shutil.rmtree(self.building, ignore_errors=True)
