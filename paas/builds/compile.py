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


@dataclass
class BuildContext:
    app: str
    source_dir: Path  # extracted source (after .slugignore)
    slug_dir: Path  # where the runnable slug must end up
    cache_dir: Path  # kept between builds of this app
    env: dict[str, str]  # the app's config vars
    out: Output
    timeout: float = 900.0
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


def default_compilers() -> list[Compiler]:
    """Detection order; the last one always applies."""
    try:
        from paas.builds.buildpacks import buildpack_compilers
    except ModuleNotFoundError:
        return [ProcfileOnly()]
    return [*buildpack_compilers(), ProcfileOnly()]
