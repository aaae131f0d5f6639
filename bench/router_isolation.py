"""Router isolation: how much the daemon's router's p99 grows while the daemon is busy, against
how much nginx's grows under the same background load.

    .venv/bin/python bench/router_isolation.py [--runs 4] [--duration 5] [--connections 64]
                                               [--workers 2] [--downloads 2] [--rows 100000]

Started once: the trivial nginx backend (bench/router_configs.py), nginx as a proxy in front of
it (one worker, what the router does per request: bench/router.py's configuration), and for each
`--workers` value (e.g. `--workers 0,2`: 0 = the router in the daemon's own loop) a real
`paas daemon` whose app's web dyno is that backend (bench/router_daemon.py), with a Postgres
add-on holding `--rows` rows and a dataclip over them shared by link.

Each run measures, with wrk (bench/router.py's: one thread, `--connections`), nginx and the
daemon's router quiet, then again while `--downloads` clients loop the clip's CSV share link
(the daemon streams every 100k-row export through its own loop). Growth = loaded p99 / quiet
p99, per target; the figure is the median over runs of router growth / nginx growth (target
≤ 1.25). Runs alternate which target goes first; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dataclips
import router_configs
import router_daemon

from router import free_port, process, wrk  # bench/router.py (first on sys.path), not the package

TARGET = 1.25
SETTLE = 3.0  # seconds between the loaded phase and the next quiet one


class Downloads:
    """`count` clients looping GET on a share link until stopped. curl, not Python: the load
    generator's own CPU should not be what slows the targets down."""

    def __init__(self, link: str, count: int) -> None:
        self.link = link
        self.done = 0
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]

    def _loop(self) -> None:
        command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "120", self.link]
        while not self._stop.is_set():
            status = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            if status == "200":
                self.done += 1
            else:
                self.failed += 1

    def __enter__(self) -> Downloads:
        for thread in self._threads:
            thread.start()
        time.sleep(1.0)  # the exports are under way before anything is measured
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)


@dataclass
class Run:
    nginx_quiet: float
    nginx_loaded: float
    router_quiet: float
    router_loaded: float

    @property
    def nginx_growth(self) -> float:
        return self.nginx_loaded / self.nginx_quiet

    @property
    def router_growth(self) -> float:
        return self.router_loaded / self.router_quiet

    @property
    def ratio(self) -> float:
        return self.router_growth / self.nginx_growth


def share_link(daemon: router_daemon.Daemon, rows: int) -> str:
    """A Postgres add-on with `rows` rows and a dataclip over them; its CSV share link."""
    api = httpx.Client(
        base_url=daemon.api_url, headers={"Authorization": f"Bearer {daemon.token}"}, timeout=600
    )
    addon = api.post(f"/apps/{router_daemon.APP}/addons", json={"plan": "heroku-postgresql"})
    addon.raise_for_status()
    url = api.get(f"/apps/{router_daemon.APP}/config-vars").json()["DATABASE_URL"]
    dataclips.load_rows(url, rows)
    daemon.wait_routed()  # the add-on's release restarted the dyno
    body = {"title": "bench", "addon": addon.json()["name"], "sql": dataclips.QUERY}
    clip = api.post("/dataclips/api/clips", json=body)
    clip.raise_for_status()
    link: str = api.post(f"/dataclips/api/clips/{clip.json()['id']}/share").json()["csv_url"]
    return link


def measure(daemon: router_daemon.Daemon, nginx_port: int, link: str, args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    for r in range(args.runs):
        targets = [("nginx", nginx_port), ("router", daemon.router_port)]
        if r % 2:
            targets.reverse()
        quiet = {
            name: wrk(name, port, args.duration, args.connections, None).p99_ms for name, port in targets
        }
        with Downloads(link, args.downloads) as downloads:
            loaded = {
                name: wrk(name, port, args.duration, args.connections, None).p99_ms for name, port in targets
            }
        time.sleep(SETTLE)  # the exports in progress end before the next quiet measurement
        run = Run(quiet["nginx"], loaded["nginx"], quiet["router"], loaded["router"])
        runs.append(run)
        print(
            f"  run {r + 1}: nginx p99 {run.nginx_quiet:7.2f} → {run.nginx_loaded:7.2f} ms "
            f"(×{run.nginx_growth:.2f})   router p99 {run.router_quiet:7.2f} → {run.router_loaded:7.2f} ms "
            f"(×{run.router_growth:.2f})   ratio {run.ratio:.2f}   ({downloads.done} exports)",
            flush=True,
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="2", help="PAAS_ROUTER_WORKERS values, e.g. 0,2")
    parser.add_argument("--downloads", type=int, default=2, help="clients looping the CSV export")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/router_isolation.py needs {tool} (Debian: nginx-light, wrk, curl)")
    tmp = Path(tempfile.mkdtemp(prefix="paas-bench-isolation-"))
    summary: list[tuple[str, list[Run]]] = []
    try:
        with contextlib.ExitStack() as stack:
            backend_port, nginx_port = free_port(), free_port()
            conf = tmp / "backend.conf"
            conf.write_text(router_configs.nginx_backend(tmp, backend_port))
            cmd = ["nginx", "-p", str(tmp), "-e", str(tmp / "backend-e.log"), "-c", str(conf)]
            stack.enter_context(process(cmd, backend_port, tmp / "backend.out"))
            conf = tmp / "proxy.conf"
            conf.write_text(router_configs.nginx_proxy(tmp, nginx_port, backend_port, False))
            cmd = ["nginx", "-p", str(tmp), "-e", str(tmp / "proxy-e.log"), "-c", str(conf)]
            stack.enter_context(process(cmd, nginx_port, tmp / "proxy.out"))
            for workers in [int(w) for w in args.workers.split(",")]:
                label = "router in the daemon's loop" if workers == 0 else f"{workers} router processes"
                env = {"PAAS_ROUTER_WORKERS": str(workers)}
                with router_daemon.paas_daemon(tmp, env, name=f"daemon-{workers}") as daemon:
                    link = share_link(daemon, args.rows)
                    print(
                        f"{label} (PAAS_ROUTER_WORKERS={workers}), {args.downloads} looping exports:",
                        flush=True,
                    )
                    summary.append((label, measure(daemon, nginx_port, link, args)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nwrk -t1 -c{args.connections} -d{args.duration}s, {args.runs} runs; medians:")
    for label, runs in summary:
        nginx = statistics.median(r.nginx_growth for r in runs)
        router = statistics.median(r.router_growth for r in runs)
        ratio = statistics.median(r.ratio for r in runs)
        verdict = "within" if ratio <= TARGET else "NOT within"
        quiet = statistics.median(r.router_quiet for r in runs)
        loaded = statistics.median(r.router_loaded for r in runs)
        print(
            f"  {label:30} router p99 {quiet:.1f} → {loaded:.1f} ms; p99 growth: router ×{router:.2f}, "
            f"nginx ×{nginx:.2f}; ratio {ratio:.2f} ({verdict} the {TARGET} target; per run "
            f"{', '.join(f'{r.ratio:.2f}' for r in runs)})"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
