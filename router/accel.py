"""The router's hot path compiled with mypyc, used only when built from these exact sources.

    python -m router.compile          # build (scripts/bootstrap.sh does it; ~20 s the first time)
    python -m router.compile status   # which build would be used, and whether it is

The modules in `COMPILED` are ordinary, type-checked Python. mypyc turns them into C
extensions (native classes, direct calls), which roughly halves the router's own CPU per
request. A build lives outside the source tree, under `<venv>/paas-compiled/<hash>/`, where
the hash covers the sources, the interpreter and mypy's version. `router/__init__.py` calls
`activate()`: when a build for the current sources exists, its directory goes first on the
package's search path; otherwise (a source edited since, no compiler, PAAS_ROUTER_COMPILED=0)
the same modules run interpreted. A stale build can never shadow an edited source.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
COMPILED = (
    "codes",
    "headers",
    "logline",
    "metrics",
    "table",
    "pages",
    "connector",
    "upstream",
    "exchange",
    "stages",
    "client",
    "server",
)
COMPLETE = "complete"  # written last: a build interrupted half-way is never used


def source_hash() -> str:
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    digest.update(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    # mypy's own version file (importlib.metadata would cost ~20 ms on every import of router)
    spec = importlib.util.find_spec("mypy")
    if spec is not None and spec.submodule_search_locations:
        version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
        digest.update(version_file.read_bytes() if version_file.is_file() else b"?")
    for name in COMPILED:
        digest.update(name.encode())
        digest.update((PACKAGE_DIR / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def builds_root() -> Path:
    return Path(os.environ.get("PAAS_COMPILED_DIR") or Path(sys.prefix) / "paas-compiled")


def build_dir() -> Path:
    return builds_root() / source_hash()


def wanted() -> bool:
    return os.environ.get("PAAS_ROUTER_COMPILED", "1") != "0"


def activate(package_path: list[str]) -> list[str]:
    """The router package's search path, with the matching build first when there is one."""
    if not wanted():
        return package_path
    try:
        build = build_dir()
    except OSError:
        return package_path
    if not (build / COMPLETE).is_file():
        return package_path
    if str(build) not in sys.path:
        sys.path.append(str(build))  # mypyc's shared runtime module lives at the top level
    return [str(build / "router"), *package_path]


def is_compiled() -> bool:
    """Whether the router in this process runs compiled."""
    from router import exchange

    return not str(exchange.__file__).endswith(".py")


def build(verbose: bool = False) -> Path:
    """Compile COMPILED into a fresh build directory; returns it (a no-op when it exists)."""
    target = build_dir()
    if (target / COMPLETE).is_file():
        return target
    repo = PACKAGE_DIR.parent
    with tempfile.TemporaryDirectory(prefix="paas-mypyc-") as tmp:
        work = Path(tmp)
        # mypyc writes next to the sources: compile a copy, never the tree itself
        for package in ("router", "paas"):
            shutil.copytree(
                repo / package, work / package, ignore=shutil.ignore_patterns("__pycache__", "*.so")
            )
        shutil.copy(repo / "pyproject.toml", work / "pyproject.toml")
        files = [f"router/{name}.py" for name in COMPILED]
        result = subprocess.run(
            [sys.executable, "-m", "mypyc", *files],
            cwd=work,
            capture_output=not verbose,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mypyc failed:\n{(result.stdout or '')[-4000:]}{(result.stderr or '')[-4000:]}")
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "router").mkdir(parents=True)
        for so in work.glob("*__mypyc*"):
            if so.is_file():
                shutil.copy2(so, staging / so.name)
        for name in COMPILED:
            built = list((work / "router").glob(f"{name}.*.so")) + list((work / "router").glob(f"{name}.*.pyd"))
            if not built:
                raise RuntimeError(f"mypyc built no extension for router.{name}")
            shutil.copy2(built[0], staging / "router" / built[0].name)
        (staging / COMPLETE).write_text(" ".join(COMPILED) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    _prune(keep=target)
    return target


def _prune(keep: Path, kept: int = 3) -> None:
    """Builds for sources since edited are dead weight: keep only the newest few (another
    checkout sharing this environment may still use one of them)."""
    builds = sorted(
        (d for d in builds_root().iterdir() if d.is_dir() and d != keep),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for old in builds[kept - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
