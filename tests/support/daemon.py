"""Run a whole paas daemon in-process, on its own thread and loop, on free ports."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvloop

from common.config import Settings
from paas.daemon import Daemon

T = TypeVar("T")

FAST_TIMERS = {
    "boot_timeout": 10.0,
    "stop_timeout": 3.0,
    "crash_backoff_max": 2.0,
    "cycle_interval": 0.0,
    "memory_check_interval": 0.25,
    "router_connect_timeout": 2.0,
    "router_timeout": 5.0,
    "router_idle_timeout": 5.0,
    "router_hold_timeout": 10.0,
}


def test_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "api_port": 0,
        "api_tls_port": 0,
        "rendezvous_port": 0,
        "router_port": 0,
        "router_tls_port": 0,
        "kafka_port": 0,
        "kafka_tls_port": 0,
        "runtime": "process",
        **FAST_TIMERS,
    }
    values.update(overrides)
    return Settings(**values)


class DaemonThread:
    """A real daemon on a background thread. `call(coro_fn)` runs code on its loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.daemon: Daemon | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="paas-daemon", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            daemon = Daemon(self.settings)
            try:
                await daemon.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self.daemon = daemon
            self._ready.set()
            await daemon.stopping.wait()
            await daemon.stop()

        uvloop.run(main())

    def start(self) -> DaemonThread:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("daemon did not start within 60 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self.daemon is not None and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.daemon.stopping.set)
        self._thread.join(60)

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    @property
    def d(self) -> Daemon:
        assert self.daemon is not None
        return self.daemon

    @property
    def api_url(self) -> str:
        return self.d.api_url

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.d.router_port}"

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.d.token}"},
            timeout=kw.pop("timeout", 30),
            **kw,
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PAAS_HOME"] = str(self.settings.home)
        env.pop("PAAS_API_URL", None)
        env.pop("PAAS_APP", None)
        return env

    def cli(
        self, *args: str, input: str | None = None, timeout: float = 120, cwd: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed `paas` script against this daemon."""
        exe = Path(sys.executable).with_name("paas")
        return subprocess.run(
            [str(exe), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            input=input,
            timeout=timeout,
            cwd=cwd,
        )
