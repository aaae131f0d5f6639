"""The real `paas daemon`: SIGKILL it with dynos running — none survives; start it again — the
formation comes back on its own."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.test_dynos_harness import APP, PY
from tests.support.procs import DaemonProcess


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def ps(d: DaemonProcess, app: str) -> list[dict[str, Any]]:
    out = d.cli("ps", "--json", "-a", app)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def wait_up(d: DaemonProcess, app: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        dynos = ps(d, app)
        if len(dynos) == count and all(x["state"] == "up" for x in dynos):
            return dynos
        assert time.monotonic() < deadline, dynos
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkilled_daemon_leaves_no_dyno_and_restart_restores_the_formation(
    paas_home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(APP)
    (source / "Procfile").write_text(f"web: {PY} app.py web\nworker: sleep 300 & {PY} app.py sleep\n")
    d = DaemonProcess(paas_home)
    try:
        d.wait_ready()
        assert d.cli("apps:create", "killme").returncode == 0
        deployed = d.cli("deploy", str(source), "-a", "killme", timeout=120)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert d.cli("ps:scale", "web=2", "worker=1", "-a", "killme").returncode == 0
        dynos = wait_up(d, "killme", 3)
        pids = []
        for dyno in dynos:
            leader = psutil.Process(dyno["pid"])
            pids += [leader.pid] + [c.pid for c in leader.children(recursive=True)]
        assert len(pids) >= 5  # 2 web + the worker's bash, sleep and python
        d.kill()  # SIGKILL: no shutdown code runs
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in pids if alive(p)] == []
    finally:
        d.kill()

    again = DaemonProcess(paas_home)
    try:
        again.wait_ready()
        dynos = wait_up(again, "killme", 3)
        assert [x["name"] for x in dynos] == ["web.1", "web.2", "worker.1"]
        assert not set(pids) & {x["pid"] for x in dynos}
    finally:
        assert again.terminate() == 0
