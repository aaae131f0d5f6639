"""Shared harness for the dyno tests: a real DynoManager + ProcessRuntime on a tmp PAAS_HOME.

Not a test module by itself (no tests); the dyno tests import `Harness`, `APP` and `cmd`.
The sample app (`app.py MODE ...`) behaves in the ways the lifecycle rules need: a web server,
a process that never binds, one that ignores SIGTERM, one that allocates memory, one that exits.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Settings
from common.events import Event, EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.types import AppDesired, ProcessDesired
from tests.support import runtimes

APP = textwrap.dedent(
    r"""
    import http.server, os, signal, sys, time

    mode = sys.argv[1]
    args = sys.argv[2:]

    def on_term(signum, frame):
        print("got SIGTERM")
        sys.exit(0)

    if mode == "web":
        signal.signal(signal.SIGTERM, on_term)
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = f"{os.environ['DYNO']} {os.environ.get('GREETING', '')}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a):
                pass
        print("booting", os.environ["DYNO"], "on", os.environ["PORT"])
        host = os.environ.get("HOST", "127.0.0.1")  # 0.0.0.0 in a container (its own network)
        http.server.HTTPServer((host, int(os.environ["PORT"])), H).serve_forever()
    elif mode == "env":
        for key in ("DYNO", "PORT", "HOME", "PYTHONUNBUFFERED", "GREETING"):
            print(f"{key}={os.environ.get(key, '')}")
        print("CWD=" + os.getcwd())
        time.sleep(3600)
    elif mode == "nobind":
        print("not binding")
        time.sleep(3600)
    elif mode == "ignore-term":
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM"))
        print("started")
        while True:
            time.sleep(1)
    elif mode == "alloc":
        signal.signal(signal.SIGTERM, on_term)
        megabytes = int(args[0])
        block = b"x" * (megabytes * 1024 * 1024)  # bytes() touches every page: really resident
        print("allocated", megabytes)
        time.sleep(3600)
    elif mode == "exit":
        print("exiting with", args[0])
        sys.exit(int(args[0]))
    elif mode == "fs":
        signal.signal(signal.SIGTERM, on_term)
        marker = os.path.join(os.getcwd(), "written-at-runtime.txt")
        print("marker " + ("found" if os.path.exists(marker) else "fresh"))
        with open(marker, "w") as f:
            f.write("x")
        with open("slug-file.txt", "a") as f:
            f.write("changed")
        time.sleep(3600)
    elif mode == "nonewline":
        sys.stdout.write("first line\npartial")
        time.sleep(0.3)
        sys.stdout.write(" done\n")
        print("to stderr", file=sys.stderr)
        time.sleep(3600)
    elif mode == "sleep":
        signal.signal(signal.SIGTERM, on_term)
        print("sleeping")
        time.sleep(3600)
    """
)

PY = shlex.quote(sys.executable)


def cmd(mode: str, *args: str) -> str:
    """The command line to run the sample app in `mode` (under the current test's runtime)."""
    return " ".join([runtimes.python(), "app.py", mode, *args])


FAST = {
    "boot_timeout": 3.0,
    "stop_timeout": 1.0,
    "crash_backoff_max": 0.8,
    "cycle_interval": 0.0,
    "memory_check_interval": 0.2,
}


@dataclass
class Seen:
    at: float  # monotonic seconds
    source: str
    dyno: str
    text: str


class Harness:
    def __init__(self, home: Path, runtime: str | None = None, **overrides: Any):
        self.home = home
        name = runtime or runtimes.current()  # tests/support/runtimes.py: process or docker
        self.settings = Settings(home=home, runtime=name, **{**FAST, **overrides})
        self.bus = EventBus()
        self.logs = LogHub(self.bus)
        self.runtime: Any = runtimes.make_runtime(name, self.settings)
        self.manager = DynoManager(self.settings, self.bus, self.logs, self.runtime)
        self.seen: list[Seen] = []
        self.events: list[tuple[float, Event]] = []
        self.bus.listen(["log.line"], self._on_line)
        self.bus.listen(["dyno.state"], lambda e: self.events.append((time.monotonic(), e)))
        self.slug_dir = self.make_slug()

    def _on_line(self, event: Event) -> None:
        line = event.data["line"]
        self.seen.append(Seen(time.monotonic(), line.source, line.dyno, line.text))

    def make_slug(self, name: str = "slug", extra: dict[str, str] | None = None) -> Path:
        slug = self.home.parent / name
        slug.mkdir(parents=True, exist_ok=True)
        (slug / "app.py").write_text(APP)
        (slug / "slug-file.txt").write_text("original")
        for rel, text in (extra or {}).items():
            (slug / rel).parent.mkdir(parents=True, exist_ok=True)
            (slug / rel).write_text(text)
        return slug

    def desired(
        self,
        app: str = "demo",
        release: int = 3,
        config: dict[str, str] | None = None,
        slug: Path | None = None,
        **processes: tuple[str, int] | tuple[str, int, str],
    ) -> AppDesired:
        procs = tuple(
            ProcessDesired(ptype, spec[0], spec[1], spec[2] if len(spec) > 2 else "standard-1x")
            for ptype, spec in sorted(processes.items())
        )
        return AppDesired(app, release, slug or self.slug_dir, dict(config or {}), procs)

    async def start(self) -> Harness:
        await self.manager.start()
        return self

    async def close(self) -> None:
        await self.manager.shutdown()

    # ---- observation ----------------------------------------------------------------------
    def lines(self, dyno: str | None = None, source: str | None = None) -> list[str]:
        return [
            s.text
            for s in self.seen
            if (dyno is None or s.dyno == dyno) and (source is None or s.source == source)
        ]

    def find(self, dyno: str, text: str, after: float = 0.0) -> Seen | None:
        for s in self.seen:
            if s.dyno == dyno and text in s.text and s.at >= after:
                return s
        return None

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; log:\n" + self.dump())
            await asyncio.sleep(0.02)

    async def wait_line(self, dyno: str, text: str, timeout: float = 10.0, after: float = 0.0) -> Seen:
        result: Seen = await self.wait_for(lambda: self.find(dyno, text, after), timeout, f"{dyno}: {text!r}")
        return result

    async def wait_state(self, app: str, name: str, state: str, timeout: float = 10.0) -> None:
        def check() -> bool:
            return any(d.name == name and d.state == state for d in self.manager.dynos(app))

        await self.wait_for(check, timeout, f"{app} {name} {state}")

    async def wait_all_up(self, app: str, count: int, timeout: float = 15.0) -> None:
        def check() -> bool:
            dynos = self.manager.dynos(app)
            return len(dynos) == count and all(d.state == "up" for d in dynos)

        await self.wait_for(check, timeout, f"{count} dynos up")

    def dump(self) -> str:
        return "\n".join(f"{s.at:.3f} {s.source}[{s.dyno}]: {s.text}" for s in self.seen[-80:])

    def state_changes(self, dyno: str) -> list[str]:
        return [s.text for s in self.seen if s.dyno == dyno and s.source == "heroku"]
