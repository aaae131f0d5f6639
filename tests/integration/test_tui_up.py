"""`paas up --no-tui`: starts a real daemon process in the background, deploys the sample app
on first run, and is a no-op the second time; failures say why. `paas tui` without a daemon
fails with a clear message."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

PAAS = str(Path(sys.executable).with_name("paas"))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    env.update(
        {
            "PAAS_HOME": str(home),
            "PAAS_API_PORT": "0",
            "PAAS_API_TLS_PORT": "0",
            "PAAS_RENDEZVOUS_PORT": "0",
            "PAAS_ROUTER_PORT": "0",
            "PAAS_KAFKA_PORT": "0",
            "PAAS_KAFKA_TLS_PORT": "0",
            "PAAS_RUNTIME": "process",
            "PAAS_STOP_TIMEOUT": "3",
        }
    )
    env.update(extra)
    return env


def paas(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAAS, *args], capture_output=True, text=True, env=env, timeout=timeout)


def stop_daemon(home: Path) -> None:
    try:
        pid = int(json.loads((home / "daemon.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "paas-home"
    try:
        yield path
    finally:
        stop_daemon(path)


def test_up_starts_the_daemon_and_deploys_the_sample_once(home: Path) -> None:
    if not (EXAMPLE / "Procfile").is_file():
        pytest.fail("examples/hello is missing")
    env = env_for(home)
    first = paas(env, "up", "--no-tui")
    assert first.returncode == 0, first.stderr
    assert "Starting the paas daemon... done, pid" in first.stderr
    assert "Creating ⬢ hello... done" in first.stderr
    assert "Deployed ⬢ hello: http://hello.localhost:" in first.stdout
    info = json.loads((home / "daemon.json").read_text())
    log = (home / "daemon.log").read_text()
    assert log.strip()  # the daemon's own output went to its log
    # born private: nothing for the daemon to tighten (secrets at rest)
    assert "tightened permissions" not in log, log
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "daemon.log").stat().st_mode) == 0o600

    token = (home / "token").read_text().strip()
    with httpx.Client(
        base_url=info["api_url"], headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as api:
        assert [a["name"] for a in api.get("/apps").json()] == ["hello"]
        releases = api.get("/apps/hello/releases").json()
        assert releases[-1]["description"].startswith("Deploy")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dynos = api.get("/apps/hello/dynos").json()
            if any(d["state"] == "up" for d in dynos):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"hello's web dyno never came up: {dynos}")
    page = httpx.get(
        f"http://127.0.0.1:{info['router_port']}/", headers={"Host": "hello.localhost"}, timeout=10
    )
    assert page.status_code == 200 and "web.1" in page.text

    again = paas(env, "up", "--no-tui")
    assert again.returncode == 0, again.stderr
    assert f"paas daemon already running at {info['api_url']}" in again.stdout
    assert "Creating" not in again.stderr
    assert json.loads((home / "daemon.json").read_text())["pid"] == info["pid"]


def test_up_without_sample_and_a_daemon_that_cannot_start(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        failed = paas(env_for(home, PAAS_API_PORT=str(port)), "up", "--no-tui", timeout=90)
    assert failed.returncode == 1
    assert "the daemon exited during start-up" in failed.stderr
    assert f"port {port} for the API is already in use" in failed.stderr  # the log's last lines, shown
    assert "Traceback" not in failed.stderr

    bad = paas(env_for(home, PAAS_ROUTER_PORT="99999"), "up", "--no-tui")
    assert bad.returncode == 1 and "router_port must be a port number" in bad.stderr

    ok = paas(env_for(home), "up", "--no-tui", "--no-sample")
    assert ok.returncode == 0, ok.stderr
    info = json.loads((home / "daemon.json").read_text())
    token = (home / "token").read_text().strip()
    assert httpx.get(f"{info['api_url']}/apps", headers={"Authorization": f"Bearer {token}"}).json() == []


def test_tui_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    result = paas(env_for(tmp_path / "nothing-here"), "tui")
    assert result.returncode == 1
    assert "the paas daemon is not running" in result.stderr and "paas daemon" in result.stderr
    assert "Traceback" not in result.stderr
