"""The compiled router: used when built from the current sources, never when stale or refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paas import accel
from tests.support.require import require

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import router, paas.accel as a, router.exchange as e, paas.logs.hub as h;"
    "print(a.is_compiled(), e.__file__, h.__file__)"
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
    assert accel.is_compiled()
    compiled, router_file, hub_file = _probe()
    assert compiled and router_file.startswith(str(accel.build_dir()))
    assert hub_file.startswith(str(accel.build_dir()))  # the log hub it reports through, too


def test_refused_or_missing_build_runs_the_sources(tmp_path: Path) -> None:
    for env in ({"PAAS_ROUTER_COMPILED": "0"}, {"PAAS_COMPILED_DIR": str(tmp_path)}):
        compiled, router_file, hub_file = _probe(**env)
        assert not compiled and router_file == str(ROOT / "router" / "exchange.py")
        assert hub_file == str(ROOT / "paas" / "logs" / "hub.py")


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
    (accel.build_dir() / "router").mkdir(parents=True)  # the right hash, but no COMPLETE marker
    assert accel.activate("router", ["/src/router"]) == ["/src/router"]
    (accel.build_dir() / accel.COMPLETE).write_text("x\n")
    assert accel.activate("router", ["/src/router"]) == [str(accel.build_dir() / "router"), "/src/router"]
    assert accel.activate("paas.logs", ["/src/paas/logs"])[0] == str(accel.build_dir() / "paas" / "logs")
