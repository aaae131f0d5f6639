"""Buildpacks, in detection order. `paas.builds.compile.default_compilers()` appends Procfile-only.

Order: Python (requirements.txt, pyproject.toml, uv.lock) → Node.js (package.json) → static site
(index.html) → Dockerfile. On the `container` stack the Dockerfile builder is used first
(see `paas.builds.compile.choose_compiler`).
"""

from __future__ import annotations

from paas.builds.buildpacks.dockerfile import DockerfileBuildpack
from paas.builds.buildpacks.node import NodeBuildpack
from paas.builds.buildpacks.python import PythonBuildpack
from paas.builds.buildpacks.static import StaticBuildpack
from paas.builds.compile import Compiler


def buildpack_compilers() -> list[Compiler]:
    return [PythonBuildpack(), NodeBuildpack(), StaticBuildpack(), DockerfileBuildpack()]


__all__ = [
    "DockerfileBuildpack",
    "NodeBuildpack",
    "PythonBuildpack",
    "StaticBuildpack",
    "buildpack_compilers",
]
