"""Turning source into a slug. The default compiler runs the directory as it is (Procfile only).

Buildpacks plug in through `Compiler`: `detect` says whether it applies, `compile` fills the
slug directory and writes progress lines through `out`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

Output = Callable[[str], None]


class BuildFailed(Exception):
    """A build step failed; the message is shown as ` !     <message>` and the push is rejected."""


@dataclass
class BuildContext:
    app: str
    source_dir: Path  # extracted source (after .slugignore)
    slug_dir: Path  # where the runnable slug must end up
    cache_dir: Path  # kept between builds of this app
    env: dict[str, str]  # the app's config vars
    out: Output
    timeout: float = 900.0
    stack: str = "heroku-24"
    # results a compiler hands back: default_process_types (dict), docker_image (str)
    extra: dict[str, object] = field(default_factory=dict)


class Compiler(Protocol):
    name: str  # shown as "-----> <name> app detected"

    def detect(self, source_dir: Path) -> bool: ...

    async def compile(self, ctx: BuildContext) -> None: ...


class ProcfileOnly:
    name = "Procfile"

    def detect(self, source_dir: Path) -> bool:
        return True

    async def compile(self, ctx: BuildContext) -> None:
        if ctx.slug_dir.exists():
            shutil.rmtree(ctx.slug_dir)
        shutil.copytree(ctx.source_dir, ctx.slug_dir, symlinks=True)


def choose_compiler(compilers: list[Compiler], source_dir: Path, stack: str = "heroku-24") -> Compiler:
    """The first compiler that detects the source; on the `container` stack a Dockerfile wins."""
    if stack == "container":
        for compiler in compilers:
            if compiler.name == "Dockerfile" and compiler.detect(source_dir):
                return compiler
        raise BuildFailed("The container stack needs a Dockerfile at the root of the app.")
    for compiler in compilers:
        if compiler.detect(source_dir):
            return compiler
    raise BuildFailed(
        "App not compatible with any buildpack: add a Procfile, requirements.txt, "
        "package.json, index.html or Dockerfile."
    )


def default_compilers() -> list[Compiler]:
    """Detection order; the last one always applies."""
    # imported here: the buildpacks import this module's Compiler (a broken install fails loudly)
    from paas.builds.buildpacks import buildpack_compilers

    return [*buildpack_compilers(), ProcfileOnly()]
