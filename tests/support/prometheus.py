"""Debian's real `prometheus` server on a loopback port, scraping the daemon's `/metrics`.

One job with the daemon's token (`authorization: {credentials: ...}`, a Bearer header), one
without (its target must be down: `/metrics` is token-protected); tsdb in a temp directory;
scraped every second. `query` goes through Prometheus's HTTP API.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

SCRAPE = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: paas
    metrics_path: /metrics
    authorization:
      credentials: {token}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: paas-no-token
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Prometheus:
    def __init__(self, workdir: Path, api_port: int, token: str):
        self.workdir = workdir
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(SCRAPE.format(token=token, port=api_port))
        config.chmod(0o600)  # it holds the token
        self.log = (workdir / "prometheus.log").open("wb")
        binary = prometheus_binary()
        assert binary is not None
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.logs()}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready after {timeout}s: {self.logs()}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def targets(self) -> dict[str, dict[str, Any]]:
        answer = httpx.get(self.url + "/api/v1/targets", timeout=10).json()
        return {t["labels"]["job"]: t for t in answer["data"]["activeTargets"]}

    def logs(self) -> str:
        return (self.workdir / "prometheus.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
