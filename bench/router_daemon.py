"""The router as users run it: a real `paas daemon` with one app whose web dyno is the trivial
nginx backend (a Procfile app on $PORT), for bench/router.py --daemon.

The daemon runs the process runtime, its own ports, a throwaway PAAS_HOME; its router is the
daemon's (same loop as the API, the log hub, the platform table listener). Everything on
127.0.0.1; the daemon is stopped (SIGTERM, dynos with it) on exit.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import router_configs
from daemon_env import daemon_env

APP = "bench"
_START = """#!/bin/sh
# the bench's trivial backend, on the port the dyno was given
d=$(mktemp -d)
sed "s/__PORT__/$PORT/; s#__TMP__#$d#g" "$(dirname "$0")/nginx.conf.in" > "$d/nginx.conf"
exec nginx -p "$d" -e stderr -c "$d/nginx.conf"
"""


class Daemon:
    def __init__(self, home: Path, env: dict[str, str], proc: subprocess.Popen[bytes], router_port: int):
        self.home = home
        self.env = env
        self.proc = proc
        self.router_port = router_port
        self.process = psutil.Process(proc.pid)

    def cli(self, *args: str) -> None:
        paas = str(Path(sys.executable).with_name("paas"))
        subprocess.run([paas, *args], env=self.env, check=True, capture_output=True, timeout=300)

    def wait_routed(self, timeout: float = 120) -> None:
        """Until the app answers 200 through the daemon's router (its dyno is up)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.router_port}/"
        while time.monotonic() < deadline:
            request = urllib.request.Request(url, headers={"Host": f"{APP}.localhost"})
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{APP} never answered through the daemon's router")

    @property
    def info(self) -> dict[str, object]:
        info: dict[str, object] = json.loads((self.home / "daemon.json").read_text())
        return info

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    def set_router2(self, on: bool) -> None:
        self.cli("features:enable" if on else "features:disable", "http-routing-2-dot-0", "-a", APP)
        time.sleep(0.5)  # the route table picks the feature up from the app.updated event


@contextlib.contextmanager
def paas_daemon(tmp: Path, extra_env: dict[str, str] | None = None, name: str = "daemon") -> Iterator[Daemon]:
    """A daemon under `tmp/<name>-home`; `extra_env` adds settings (PAAS_ROUTER_WORKERS=...)."""
    home, app = tmp / f"{name}-home", tmp / f"{name}-app"
    home.mkdir()
    app.mkdir()
    config = router_configs.nginx_backend(Path("__TMP__"), 0).replace("127.0.0.1:0 ", "127.0.0.1:__PORT__ ")
    (app / "nginx.conf.in").write_text(config)
    (app / "start.sh").write_text(_START)
    (app / "Procfile").write_text("web: sh start.sh\n")
    env = daemon_env(home, **(extra_env or {}))
    paas = str(Path(sys.executable).with_name("paas"))
    with (tmp / f"{name}.out").open("wb") as out:
        proc = subprocess.Popen([paas, "daemon"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        info_path = home / "daemon.json"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"paas daemon exited: {(tmp / f'{name}.out').read_text()[-2000:]}")
            if info_path.exists():
                info = json.loads(info_path.read_text())
                if info.get("pid") == proc.pid:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("paas daemon not ready after 60 s")
            time.sleep(0.1)
        daemon = Daemon(home, env, proc, int(info["router_port"]))
        daemon.cli("apps:create", APP)
        daemon.cli("deploy", str(app), "-a", APP)
        daemon.wait_routed()
        yield daemon
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
