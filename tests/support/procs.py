"""Start a real `paas daemon` process (e2e tests) and wait for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.daemon import FAST_TIMERS

PAAS = str(Path(sys.executable).with_name("paas"))


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PAAS_HOME": str(home),
            "PAAS_API_PORT": "0",
            "PAAS_API_TLS_PORT": "0",
            "PAAS_RENDEZVOUS_PORT": "0",
            "PAAS_ROUTER_PORT": "0",
            "PAAS_ROUTER_TLS_PORT": "0",
            "PAAS_KAFKA_PORT": "0",
            "PAAS_KAFKA_TLS_PORT": "0",
            "PAAS_RUNTIME": "process",
        }
    )
    env.update({f"PAAS_{k.upper()}": str(v) for k, v in FAST_TIMERS.items()})
    env.pop("PAAS_API_URL", None)
    env.update(extra)
    return env


class DaemonProcess:
    def __init__(self, home: Path, **extra: str):
        self.home = home
        self.env = daemon_env(home, **extra)
        self.log = open(home / "daemon-test.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PAAS, "daemon"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        info_path = self.home / "daemon.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}: {self.output()}")
            if info_path.exists():
                info = json.loads(info_path.read_text())
                if info.get("pid") == self.proc.pid:
                    return dict(info)
            time.sleep(0.05)
        raise TimeoutError("daemon not ready")

    def output(self) -> str:
        self.log.flush()
        return (self.home / "daemon-test.log").read_text(errors="replace")

    def cli(
        self, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PAAS, *args], env=self.env, capture_output=True, text=True, timeout=timeout, input=input
        )

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
