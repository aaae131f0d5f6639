"""The compiled router: used when built from the current sources, never when stale or refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from router import accel
from tests.support.require import require

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import router, router.accel as a, router.exchange as e; print(a.is_compiled(), e.__file__)"


def _probe(**env: str) -> tuple[bool, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return out[0] == "True", out[1]


def test_the_router_in_this_run_is_the_compiled_one() -> None:
    require((accel.build_dir() / accel.COMPLETE).is_file(), "no mypyc build (python -m router.compile)")
    assert accel.is_compiled()
    compiled, where = _probe()
    assert compiled and where.startswith(str(accel.build_dir()))


def test_refused_or_missing_build_runs_the_sources(tmp_path: Path) -> None:
    compiled, where = _probe(PAAS_ROUTER_COMPILED="0")
    assert not compiled and where == str(ROOT / "router" / "exchange.py")
    compiled, where = _probe(PAAS_COMPILED_DIR=str(tmp_path))
    assert not compiled and where == str(ROOT / "router" / "exchange.py")


def test_a_build_for_other_sources_is_never_used(tmp_path: Path) -> None:
    # what an edited source leaves behind: a complete build under another hash
    stale = tmp_path / "0123456789abcdef"
    (stale / "router").mkdir(parents=True)
    (stale / accel.COMPLETE).write_text("x\n")
    (stale / "router" / "exchange.so").write_bytes(b"not a library")
    compiled, where = _probe(PAAS_COMPILED_DIR=str(tmp_path))
    assert not compiled and where == str(ROOT / "router" / "exchange.py")


def test_a_half_written_build_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PAAS_COMPILED_DIR", str(tmp_path))
    (accel.build_dir() / "router").mkdir(parents=True)  # the right hash, but no COMPLETE marker
    assert accel.activate(["/src/router"]) == ["/src/router"]
    (accel.build_dir() / accel.COMPLETE).write_text("x\n")
    assert accel.activate(["/src/router"]) == [str(accel.build_dir() / "router"), "/src/router"]
