"""The real `paas daemon` process: single instance, clear port errors, graceful stop, crash safety."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

from tests.support.procs import PAAS, DaemonProcess, daemon_env


def test_refuses_second_daemon_on_same_home(paas_home: Path) -> None:
    first = DaemonProcess(paas_home)
    try:
        first.wait_ready()
        second = subprocess.run(
            [PAAS, "daemon"], env=daemon_env(paas_home), capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 1
        assert (
            f"a paas daemon is already running for PAAS_HOME={paas_home} (pid {first.proc.pid})"
            in second.stderr
        )
        assert first.proc.poll() is None  # the first one is unharmed
    finally:
        assert first.terminate() == 0


def test_port_taken_gives_a_clear_message(paas_home: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        r = subprocess.run(
            [PAAS, "daemon"],
            env=daemon_env(paas_home, PAAS_API_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 1
        assert (
            f"port {port} for the API is already in use on 127.0.0.1; stop what uses it or set PAAS_API_PORT"
            in r.stderr
        )
        assert "Traceback" not in r.stderr
    finally:
        blocker.close()


def test_bad_setting_is_a_clear_error(paas_home: Path) -> None:
    r = subprocess.run(
        [PAAS, "daemon"],
        env=daemon_env(paas_home, PAAS_ROUTER_TIMEOUT="soon"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    assert "PAAS_ROUTER_TIMEOUT must be a non-negative number of seconds, not 'soon'" in r.stderr


def test_sigterm_stops_gracefully_and_cli_reports_daemon_down(paas_home: Path) -> None:
    d = DaemonProcess(paas_home)
    d.wait_ready()
    assert d.cli("apps:create", "graceful").returncode == 0
    assert d.terminate() == 0
    assert not (paas_home / "daemon.json").exists()
    r = d.cli("apps")
    assert r.returncode == 1
    assert "the paas daemon is not running" in r.stderr


def test_sigkill_mid_burst_loses_no_acknowledged_release(paas_home: Path) -> None:
    d = DaemonProcess(paas_home)
    d.wait_ready()
    assert d.cli("apps:create", "burst").returncode == 0
    acknowledged: list[int] = []
    stop = threading.Event()

    def burst() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            r = d.cli("config:set", f"K{i}=v{i}", "-a", "burst", timeout=30)
            if r.returncode == 0:
                acknowledged.append(i)
            else:
                return

    worker = threading.Thread(target=burst)
    worker.start()
    while len(acknowledged) < 5:
        threading.Event().wait(0.05)
    d.kill()  # SIGKILL while config:set calls are in flight
    stop.set()
    worker.join(60)

    again = DaemonProcess(paas_home)
    try:
        again.wait_ready()
        config = again.cli("config", "--json", "-a", "burst")
        import json

        values = json.loads(config.stdout)
        for i in acknowledged:
            assert values[f"K{i}"] == f"v{i}"
        releases = json.loads(again.cli("releases", "--json", "-n", "1000", "-a", "burst").stdout)
        versions = sorted(r["version"] for r in releases)
        assert versions == list(range(1, len(versions) + 1))  # no gap, nothing half-written
        # every release's config is exactly the cumulative state at that point
        keys_in_order = [
            int(r["description"].split()[1][1:]) for r in sorted(releases, key=lambda r: r["version"])[2:]
        ]
        assert keys_in_order == sorted(keys_in_order)
        assert len(keys_in_order) >= len(acknowledged)
    finally:
        assert again.terminate() == 0


def test_daemon_stop_command(paas_home: Path) -> None:
    d = DaemonProcess(paas_home)
    d.wait_ready()
    r = d.cli("daemon:stop")
    assert r.returncode == 0, r.stderr
    assert f"Stopping the paas daemon (pid {d.proc.pid})... done" in r.stderr
    assert d.proc.wait(10) == 0
    assert not (paas_home / "daemon.json").exists()
    again = d.cli("daemon:stop")
    assert again.returncode == 1
    assert f" ›   Error: no paas daemon is running for PAAS_HOME={paas_home}" in again.stderr
    d.log.close()
