"""The compiled router: used when built from the current sources, never when stale or refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common import accel
from router import runs_compiled
from tests.support.require import require

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import router, common.accel as a, router.exchange as e, common.loghub as h;"
    "print(router.runs_compiled(), e.__file__, h.__file__)"
)


def _probe(**env: str) -> tuple[bool, str, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return out[0] == "True", out[1], out[2]


def test_the_router_in_this_run_is_the_compiled_one() -> None:
    require((accel.build_dir() / accel.COMPLETE).is_file(), "no mypyc build (python -m router.compile)")
    assert runs_compiled()
    compiled, router_file, hub_file = _probe()
    assert compiled and router_file.startswith(str(accel.build_dir()))
    assert hub_file.startswith(str(accel.build_dir()))  # the log hub it reports through, too


def test_refused_or_missing_build_runs_the_sources(tmp_path: Path) -> None:
    for env in ({"PAAS_ROUTER_COMPILED": "0"}, {"PAAS_COMPILED_DIR": str(tmp_path)}):
        compiled, router_file, hub_file = _probe(**env)
        assert not compiled and router_file == str(ROOT / "router" / "exchange.py")
        assert hub_file == str(ROOT / "common" / "loghub.py")


def test_a_build_for_other_sources_is_never_used(tmp_path: Path) -> None:
    # what an edited source leaves behind: a complete build under another hash
    stale = tmp_path / "0123456789abcdef"
    (stale / "router").mkdir(parents=True)
    (stale / accel.COMPLETE).write_text("x\n")
    (stale / "router" / "exchange.so").write_bytes(b"not a library")
    compiled, router_file, _ = _probe(PAAS_COMPILED_DIR=str(tmp_path))
    assert not compiled and router_file == str(ROOT / "router" / "exchange.py")


def test_a_half_written_build_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PAAS_COMPILED_DIR", str(tmp_path))
    packages = accel.build_dir() / accel.PACKAGES
    (packages / "router").mkdir(parents=True)  # the right hash, but no COMPLETE marker
    assert accel.activate("router", ["/src/router"]) == ["/src/router"]
    (accel.build_dir() / accel.COMPLETE).write_text("x\n")
    assert accel.activate("router", ["/src/router"]) == [str(packages / "router"), "/src/router"]
    assert accel.activate("common", ["/src/common"])[0] == str(packages / "common")


def test_every_package_keeps_its_own_modules_when_imported_after_the_build(tmp_path: Path) -> None:
    # `paas daemon` from any directory: `common` activates first (the build goes on sys.path),
    # then `router` is imported; it must be the real package, with its uncompiled modules too
    probe = "import common, router, router.faults; print(router.runs_compiled(), router.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == str(ROOT / "router" / "__init__.py")
