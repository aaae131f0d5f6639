"""Benchmark: `ps:scale web=20` until all twenty web dynos are `up`.

Runs the real DynoManager + ProcessRuntime (no HTTP in between) on a throw-away PAAS_HOME,
with a small Python web app (http.server) as the slug. Each round scales 0 → N, timing
until the manager reports every dyno `up` ($PORT accepting connections), then scales back to 0.

    .venv/bin/python bench/dynos_scale.py [--dynos 20] [--rounds 3] [--python PATH] [--daemon]

Prints per round: time to all up, the median / slowest single boot, and the time to stop
all of them (SIGTERM; the app exits at once). With --daemon it also measures the whole path:
a real `paas daemon` process, `paas ps:scale web=N` from the CLI, then the API polled every
20 ms until `GET /apps/bench/dynos` shows N dynos `up`.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from daemon_env import daemon_env

from common.config import Settings
from common.events import Event, EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.runtimes.process import ProcessRuntime
from dynos.types import AppDesired, ProcessDesired

WEB_APP = """
import http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


async def bench(dynos: int, rounds: int, python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="paas-bench-") as tmp:
        root = Path(tmp)
        slug = root / "slug"
        slug.mkdir()
        (slug / "web.py").write_text(WEB_APP)
        settings = Settings(home=root / "home", runtime="process", cycle_interval=0)
        bus = EventBus()
        logs = LogHub(bus)
        manager = DynoManager(settings, bus, logs, ProcessRuntime(settings))
        await manager.start()
        command = f"{shlex.quote(python)} web.py"
        started: dict[str, float] = {}
        boots: list[float] = []

        def on_state(event: Event) -> None:
            state, name = event.data["state"], event.data["dyno"]
            if state == "starting" and event.data["previous"] is None:
                started[name] = time.perf_counter()
            elif state == "up" and name in started:
                boots.append(time.perf_counter() - started.pop(name))

        bus.listen(["dyno.state"], on_state)

        def desired(n: int, release: int) -> AppDesired:
            return AppDesired("bench", release, slug, {}, (ProcessDesired("web", command, n),))

        print(f"scale web=0 → web={dynos}, {rounds} rounds, command: {command}")
        print(f"{'round':>5}  {'all up':>9}  {'median boot':>11}  {'slowest':>9}  {'stop all':>9}")
        totals = []
        try:
            for r in range(1, rounds + 1):
                boots.clear()
                t0 = time.perf_counter()
                await manager.apply(desired(dynos, 3))
                while not (len(ds := manager.dynos("bench")) == dynos and all(d.state == "up" for d in ds)):
                    await asyncio.sleep(0.005)
                all_up = time.perf_counter() - t0
                totals.append(all_up)
                t1 = time.perf_counter()
                await manager.apply(desired(0, 3))
                while manager.dynos("bench"):
                    await asyncio.sleep(0.005)
                stop_all = time.perf_counter() - t1
                print(
                    f"{r:>5}  {all_up:>8.3f}s  {statistics.median(boots):>10.3f}s  {max(boots):>8.3f}s  {stop_all:>8.3f}s"
                )
        finally:
            await manager.shutdown()
        print(
            f"best {min(totals):.3f}s, median {statistics.median(totals):.3f}s for {dynos} dynos to be up "
            f"({dynos / min(totals):.1f} dynos/s)"
        )


def bench_daemon(dynos: int, rounds: int, python: str) -> None:
    import json
    import subprocess

    import httpx

    paas = str(Path(sys.executable).with_name("paas"))
    with tempfile.TemporaryDirectory(prefix="paas-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        src = root / "src"
        src.mkdir()
        (src / "web.py").write_text(WEB_APP)
        (src / "Procfile").write_text(f"web: {shlex.quote(python)} web.py\n")
        env = daemon_env(home, PAAS_CYCLE_INTERVAL="0")
        log = open(root / "daemon.log", "wb")  # noqa: SIM115
        daemon = subprocess.Popen([paas, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not (home / "daemon.json").exists():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("daemon did not start: " + (root / "daemon.log").read_text()[-2000:])
                time.sleep(0.05)
            info = json.loads((home / "daemon.json").read_text())
            token = (home / "token").read_text().strip()
            api = httpx.Client(base_url=info["api_url"], headers={"Authorization": f"Bearer {token}"})
            run = lambda *a: subprocess.run([paas, *a], env=env, capture_output=True, text=True, check=True)  # noqa: E731
            run("apps:create", "bench")
            run("deploy", str(src), "-a", "bench")
            run("ps:scale", "web=0", "-a", "bench")
            print(f"via the daemon: paas ps:scale web={dynos} → all up (API polled every 20 ms)")
            for r in range(1, rounds + 1):
                while api.get("/apps/bench/dynos").json():
                    time.sleep(0.05)
                t0 = time.perf_counter()
                run("ps:scale", f"web={dynos}", "-a", "bench")
                cli_done = time.perf_counter() - t0
                while True:
                    ds = api.get("/apps/bench/dynos").json()
                    if len(ds) == dynos and all(d["state"] == "up" for d in ds):
                        break
                    time.sleep(0.02)
                print(
                    f"{r:>5}  all up {time.perf_counter() - t0:.3f}s  (the ps:scale command itself {cli_done:.3f}s)"
                )
                run("ps:scale", "web=0", "-a", "bench")
        finally:
            daemon.terminate()
            daemon.wait(60)
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dynos", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the web app")
    parser.add_argument(
        "--daemon", action="store_true", help="also measure through a real daemon and the CLI"
    )
    args = parser.parse_args()
    if not 1 <= args.dynos <= 100 or not 1 <= args.rounds <= 20:
        parser.error("--dynos must be 1..100 and --rounds 1..20")
    asyncio.run(bench(args.dynos, args.rounds, args.python))
    if args.daemon:
        bench_daemon(args.dynos, args.rounds, args.python)


if __name__ == "__main__":
    main()
