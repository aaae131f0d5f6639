"""Helpers for the deploy tests (no tests here): a real git working copy pushed to the daemon,
and fetching an app's page through the router."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.daemon import DaemonThread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def git_env(daemon: DaemonThread, home: Path) -> dict[str, str]:
    env = daemon.env()
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


class GitApp:
    """An app on the daemon plus a git working copy with the `paas` remote set by the CLI."""

    def __init__(self, daemon: DaemonThread, tmp_path: Path, name: str, example: str | None = "hello"):
        self.daemon = daemon
        self.name = name
        self.dir = tmp_path / f"src-{name}"
        home = tmp_path / "git-home"
        home.mkdir(exist_ok=True)
        self.env = git_env(daemon, home)
        created = daemon.cli("apps:create", name)
        assert created.returncode == 0, created.stderr
        if example:
            shutil.copytree(EXAMPLES / example, self.dir)
        else:
            self.dir.mkdir()
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "first", "--allow-empty")
        remote = daemon.cli("git:remote", "-a", name, cwd=str(self.dir))
        assert remote.returncode == 0, remote.stderr
        assert f"set git remote paas to {daemon.api_url}/git/{name}.git" in remote.stdout

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check:
            assert result.returncode == 0, f"git {args}: {result.stderr}"
        return result

    def commit(self, message: str, files: dict[str, str]) -> str:
        for path, text in files.items():
            target = self.dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, ref: str = "main") -> subprocess.CompletedProcess[str]:
        return self.git("push", "paas", ref, check=False)

    def releases(self) -> list[dict[str, Any]]:
        with self.daemon.client() as c:
            return c.get(f"/apps/{self.name}/releases").json()  # type: ignore[no-any-return]

    def web_dynos(self) -> list[Any]:
        return [d for d in self.daemon.d.dynos.dynos(self.name) if d.type == "web"]


def routed(daemon: DaemonThread) -> bool:
    return daemon.d.router is not None


def fetch(daemon: DaemonThread, app: str, path: str = "/", timeout: float = 10) -> httpx.Response:
    """GET through the router when the daemon runs one, else straight to the first up web dyno."""
    if routed(daemon):
        return httpx.get(f"{daemon.router_url}{path}", headers={"Host": f"{app}.localhost"}, timeout=timeout)
    up = [d for d in daemon.d.dynos.dynos(app) if d.type == "web" and d.state == "up" and d.port]
    if not up:
        raise httpx.ConnectError("no web dyno is up")
    return httpx.get(f"http://127.0.0.1:{up[0].port}{path}", timeout=timeout)


def wait_for(
    check: Callable[[], Any], timeout: float = 20, interval: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def serving(daemon: DaemonThread, app: str, text: str, timeout: float = 20) -> str:
    """Wait until the app's page contains `text`; returns the page."""

    def check() -> str | None:
        r = fetch(daemon, app)
        return r.text if r.status_code == 200 and text in r.text else None

    return str(wait_for(check, timeout, what=f"{app} to serve {text!r}"))


def api_lines(daemon: DaemonThread, app: str) -> list[str]:
    return [line.text for line in daemon.d.logs.recent(app, 1500) if line.dyno == "api"]


def log_lines(daemon: DaemonThread, app: str) -> list[str]:
    return [line.format() for line in daemon.d.logs.recent(app, 1500)]


@dataclass
class Load:
    """A bounded load through the router: `clients` threads, at most `max_requests` in all."""

    url: str
    host: str
    clients: int = 4
    max_requests: int = 4000
    results: list[tuple[float, int, str]] = field(default_factory=list)  # (latency s, status, body)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=30, headers={"Host": self.host}) as client:
            while not self._stop.is_set():
                with self._lock:
                    if len(self.results) >= self.max_requests:
                        return
                started = time.monotonic()
                try:
                    r = client.get(self.url)
                    status, body = r.status_code, r.text
                except httpx.HTTPError as exc:
                    status, body = 0, repr(exc)
                with self._lock:
                    self.results.append((time.monotonic() - started, status, body))

    def stop(self) -> list[tuple[float, int, str]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return list(self.results)
