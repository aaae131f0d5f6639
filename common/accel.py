"""The per-request hot path compiled with mypyc, used only when built from these exact sources.

    python -m router.compile          # build (scripts/bootstrap.sh does it; ~20 s the first time)
    python -m router.compile status   # which build would be used, and whether it is

The modules in `COMPILED` (the router, and the log hub, event bus and platform-table
recorder it reports through on every request) are ordinary, type-checked Python. mypyc turns them into C extensions (native
classes, direct calls), which roughly halves the router's own CPU per request. A build lives
outside the source tree, under `<venv>/paas-compiled/<hash>/`, where the hash covers the
sources, the interpreter and mypy's version. Each package holding compiled modules calls
`activate()` in its `__init__`: when a build for the current sources exists, its directory
goes first on the package's search path; otherwise (a source edited since, no C compiler,
PAAS_ROUTER_COMPILED=0) the same modules run interpreted. A stale build can never shadow an
edited source. This module imports nothing of paas (it runs inside `common/__init__`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
COMPILED = (
    "common.events",
    "common.loghub",
    "paas.dataclips.platform",
    "router.codes",
    "router.headers",
    "router.logline",
    "router.metrics",
    "router.table",
    "router.pages",
    "router.connector",
    "router.framing",
    "router.head",
    "router.backlog",
    "router.stages",
    "router.chain",
    "router.pool",
    "router.pick",
    "router.deadlines",
    "router.upstream",
    "router.exchange",
    "router.client",
    "router.server",
)


def _source(module: str) -> Path:
    return REPO.joinpath(*module.split(".")).with_suffix(".py")


COMPLETE = "complete"  # written last: a build interrupted half-way is never used
# The extensions sit under `<build>/packages/<package>/`, never at the build's top: the top goes on
# sys.path (mypyc's shared library is a top-level module), and a `router/` directory there would
# make `import router` a namespace package of the build alone, hiding the package's own sources.
PACKAGES = "packages"


@functools.cache  # four packages activate at import; the sources do not change under a process
def source_hash() -> str:
    digest = hashlib.sha256()
    digest.update(f"layout {PACKAGES}".encode())
    digest.update(sys.version.encode())
    digest.update(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    # mypy's own version file (importlib.metadata would cost ~20 ms on every import of router)
    spec = importlib.util.find_spec("mypy")
    if spec is not None and spec.submodule_search_locations:
        version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
        digest.update(version_file.read_bytes() if version_file.is_file() else b"?")
    for module in COMPILED:
        digest.update(module.encode())
        digest.update(_source(module).read_bytes())
    return digest.hexdigest()[:16]


def builds_root() -> Path:
    return Path(os.environ.get("PAAS_COMPILED_DIR") or Path(sys.prefix) / "paas-compiled")


def build_dir() -> Path:
    return builds_root() / source_hash()


def wanted() -> bool:
    return os.environ.get("PAAS_ROUTER_COMPILED", "1") != "0"


def activate(package: str, package_path: list[str]) -> list[str]:
    """A package's search path, with the matching build's directory first when there is one."""
    if not wanted():
        return package_path
    try:
        build = build_dir()
    except OSError:
        return package_path
    if not (build / COMPLETE).is_file():
        return package_path
    if str(build) not in sys.path:
        # mypyc's shared module lives at the top level; first, so no stray copy can win
        sys.path.insert(0, str(build))
    return [str(build.joinpath(PACKAGES, *package.split("."))), *package_path]


def is_compiled(module: ModuleType) -> bool:
    """Whether `module` (one of COMPILED) was loaded from a build rather than its source."""
    return not str(module.__file__).endswith(".py")


def build(verbose: bool = False) -> Path:
    """Compile COMPILED into a fresh build directory; returns it (a no-op when it exists)."""
    target = build_dir()
    if (target / COMPLETE).is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="paas-mypyc-") as tmp:
        work = Path(tmp)
        _compile_copy(work, verbose)
        _install(work, target)
    _prune(keep=target)
    return target


def _compile_copy(work: Path, verbose: bool) -> None:
    """Run mypyc over a copy of the sources in `work` (mypyc writes next to the sources)."""
    for top in ("common", "router", "paas"):
        shutil.copytree(REPO / top, work / top, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for name in ("pyproject.toml", "README.md"):  # mypy's settings (and what setuptools asks for)
        shutil.copy(REPO / name, work / name)
    files = [str(_source(module).relative_to(REPO)) for module in COMPILED]
    result = subprocess.run(
        [sys.executable, "-m", "mypyc", *files],
        cwd=work,
        capture_output=not verbose,
        text=True,
    )
    if result.returncode != 0:
        tail = ((result.stdout or "") + (result.stderr or "")).strip().splitlines()[-8:]
        raise RuntimeError(f"mypyc exited with {result.returncode}:\n  " + "\n  ".join(tail))


def _install(work: Path, target: Path) -> None:
    """Stage the built extensions under a unique name, then rename: two builds at once cannot mix
    their files."""
    builds_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=builds_root()))
    staging.chmod(0o755)
    for so in work.glob("*__mypyc*"):
        if so.is_file():
            shutil.copy2(so, staging / so.name)
    for module in COMPILED:
        *parents, name = module.split(".")
        source_dir = work.joinpath(*parents)
        built = [*source_dir.glob(f"{name}.*.so"), *source_dir.glob(f"{name}.*.pyd")]
        if not built:
            raise RuntimeError(f"mypyc built no extension for {module}")
        staging.joinpath(PACKAGES, *parents).mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], staging.joinpath(PACKAGES, *parents, built[0].name))
    (staging / COMPLETE).write_text(" ".join(COMPILED) + "\n")
    try:
        staging.rename(target)
    except OSError:  # another build of the same sources finished first: use that one
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / COMPLETE).is_file():
            raise


def _prune(keep: Path, kept: int = 3) -> None:
    """Builds for sources since edited are dead weight: keep only the newest few (another
    checkout sharing this environment may still use one of them)."""
    builds = sorted(
        (d for d in builds_root().iterdir() if d.is_dir() and d != keep and not d.name.startswith(".")),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for old in builds[kept - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
