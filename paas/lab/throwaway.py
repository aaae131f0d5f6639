"""A throwaway daemon for one lab run: `paas daemon` with short timers, free ports, a temp home.

Timers such as PAAS_ROUTER_TIMEOUT are daemon-wide, so the lab starts its own daemon rather
than change yours. It is a real `paas daemon` process; `stop()` sends it SIGTERM (its dynos
get SIGTERM in turn) and removes the temp home.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common.config import Settings
from paas.lab.context import LabError

START_TIMEOUT = 60.0


def timer_env(timers: dict[str, float]) -> dict[str, str]:
    names = {field: env for env, field in Settings.ENV_NAMES.items()}
    return {names[k]: f"{v:g}" for k, v in timers.items() if k in names}


class ThrowawayDaemon:
    def __init__(self, timers: dict[str, float], runtime: str = "process"):
        self.timers = dict(timers)
        self.runtime = runtime
        self.home = Path(tempfile.mkdtemp(prefix="paas-lab-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_url = ""
        self.token = ""
        self.router_port = 0

    def start(self) -> ThrowawayDaemon:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
        env.update(timer_env(self.timers))
        env.update(
            {
                "PAAS_HOME": str(self.home),
                "PAAS_API_PORT": "0",
                "PAAS_API_TLS_PORT": "0",  # every port free: two lab runs (or a daemon) side by side
                "PAAS_RENDEZVOUS_PORT": "0",
                "PAAS_ROUTER_PORT": "0",
                "PAAS_ROUTER_TLS_PORT": "0",
                "PAAS_KAFKA_PORT": "0",
                "PAAS_KAFKA_TLS_PORT": "0",
                "PAAS_RUNTIME": self.runtime,
            }
        )
        if os.environ.get("PAAS_EXAMPLES_DIR"):
            env["PAAS_EXAMPLES_DIR"] = os.environ["PAAS_EXAMPLES_DIR"]
        log = (self.home / "daemon.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paas.cli.main", "daemon"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        info_path = self.home / "daemon.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LabError(f"the lab daemon exited at start:\n{self.log_tail()}")
            if info_path.exists():
                try:
                    info = json.loads(info_path.read_text())
                    self.api_url = str(info["api_url"])
                    self.router_port = int(info["router_port"])
                    self.token = (self.home / "token").read_text().strip()
                    if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return self
                except (ValueError, KeyError, OSError, httpx.HTTPError):
                    pass
            time.sleep(0.1)
        self.stop()
        raise LabError(f"the lab daemon did not start within {START_TIMEOUT:g}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.home / "daemon.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)
