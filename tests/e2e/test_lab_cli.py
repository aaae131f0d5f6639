"""`paas lab` and `paas lab:run` as a user runs them: the installed script, a throwaway daemon
(or the running one with --use-running), text and --json output, clear errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.daemon import DaemonThread

PAAS = str(Path(sys.executable).with_name("paas"))


def paas(*args: str, home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    env["PAAS_HOME"] = str(home)
    return subprocess.run([PAAS, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_lab_lists_the_scenarios(tmp_path: Path) -> None:
    r = paas("lab", home=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in (
        "h13-shutdown",
        "h12-timeout",
        "h10-crash-loop",
        "r14-memory",
        "h20-boot",
        "keepalive-race",
        "keepalive-tail",
        "preboot",
    ):
        assert name in r.stdout
    data = json.loads(paas("lab", "--json", home=tmp_path).stdout)
    assert {s["name"] for s in data} >= {"h13-shutdown", "preboot"}
    assert all(s["timers"]["router_timeout"] > 0 for s in data)


@pytest.mark.slow
def test_lab_run_with_a_throwaway_daemon_json(tmp_path: Path) -> None:
    r = paas("lab:run", "h12-timeout", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["ok"] is True and result["scenario"] == "h12-timeout"
    slow = next(v for v in result["variants"] if v["label"] == "slow-endpoint")
    assert slow["router"]["H12"] == 3
    assert any('code=H12 desc="Request timeout"' in line for line in slow["samples"])
    assert result["timers"]["router_timeout"] == 2.0
    assert (
        "Starting a throwaway paas daemon" in r.stderr and "Stopping the throwaway daemon... done" in r.stderr
    )
    assert not (tmp_path / "daemon.json").exists()  # the user's home was never used


@pytest.mark.slow
def test_lab_run_against_the_running_daemon_text(daemon: DaemonThread) -> None:
    r = daemon.cli("lab:run", "keepalive-race", "--use-running", timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "=== keepalive-race:" in out and "--- router2-short-idle" in out and "=== Checks" in out
    assert 'code=H13 desc="Connection closed without response"' in out
    assert " ✓ router2-long-idle: no errors (0)" in out and "Result: as expected" in out
    with daemon.client() as c:  # its throwaway apps are gone again
        assert not [a for a in c.get("/apps").json() if a["name"].startswith("lab-")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab:run", "h99-nothing"], "no lab scenario 'h99-nothing'; choose one of: h13-shutdown"),
        (["lab:run", "h12-timeout", "--keep"], "--keep only applies with --use-running"),
        (["lab:run", "h12-timeout", "--use-running"], "the paas daemon is not running"),
    ],
)
def test_lab_run_errors(tmp_path: Path, args: list[str], message: str) -> None:
    r = paas(*args, home=tmp_path)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_lab_run_without_examples(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    env.update(PAAS_HOME=str(tmp_path), PAAS_EXAMPLES_DIR=str(tmp_path / "nowhere"))
    r = subprocess.run([PAAS, "lab:run", "h13-shutdown"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "h13-naive, h13-draining are not in" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_stops_its_throwaway_daemon(tmp_path: Path, sig: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    env.update(PAAS_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [PAAS, "lab:run", "preboot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("paas-lab-*/daemon.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # mid-scenario
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130 and "Stopping the throwaway daemon... done" in err, err[-3000:]
    assert not list(tmp_path.glob("paas-lab-*"))  # temp home removed
    leftovers = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(tmp_path) in p.environ().get("PAAS_HOME", ""):
                leftovers.append(p.pid)
    assert not leftovers
