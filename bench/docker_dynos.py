"""Benchmark: container dynos against process dynos, side by side.

For each runtime (the same DynoManager, the same Python stdlib web app, uvloop like the daemon):
  start-to-up   apply(web=1) → the dyno's `up` event (its $PORT accepts a connection):
                create + attach + start of the container (or fork/exec), slug copy, app boot;
  scale web=10  apply(web=10) on an app with no dynos → all ten `up`;
  scale to 0    apply(web=0) → all ten gone (SIGTERM, exit, container removed).

    .venv/bin/python bench/docker_dynos.py [--runs 10] [--scale 10] [--runtime process|docker|both]

Needs a Docker engine (scripts/ensure-docker.sh) and a stack image (`paas stack:build`).
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
from typing import Any

import uvloop

from common.config import Settings
from common.events import Event, EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.types import AppDesired, ProcessDesired

WEB = """\
import http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), H).serve_forever()
"""


def make_runtime(name: str, settings: Settings) -> Any:
    if name == "docker":
        from dynos.runtimes.docker import DockerRuntime

        return DockerRuntime(settings)
    from dynos.runtimes.process import ProcessRuntime

    return ProcessRuntime(settings)


class Bench:
    def __init__(self, runtime: str, root: Path):
        self.name = runtime
        self.slug = root / "slug"
        self.slug.mkdir(parents=True, exist_ok=True)
        (self.slug / "web.py").write_text(WEB)
        python = "python3" if runtime == "docker" else shlex.quote(sys.executable)
        self.command = f"{python} web.py"
        self.settings = Settings(
            home=root / f"home-{runtime}",
            runtime=runtime,
            cycle_interval=0,
            stop_timeout=5,
            memory_check_interval=1.0,
        )
        self.bus = EventBus()
        self.manager = DynoManager(
            self.settings, self.bus, LogHub(self.bus), make_runtime(runtime, self.settings)
        )
        self.up: dict[tuple[str, str], float] = {}
        self.bus.listen(["dyno.state"], self._on_state)

    def _on_state(self, event: Event) -> None:
        if event.data["state"] == "up":
            self.up[(str(event.app), event.data["dyno"])] = time.perf_counter()

    def desired(self, app: str, quantity: int, release: int = 1) -> AppDesired:
        return AppDesired(app, release, self.slug, {}, (ProcessDesired("web", self.command, quantity),))

    async def wait(self, predicate: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: timed out; dynos: {self.manager.dynos()}")
            await asyncio.sleep(0.005)

    async def start_to_up(self, runs: int) -> list[float]:
        times = []
        for i in range(runs):
            app = f"up{i}"
            t0 = time.perf_counter()
            await self.manager.apply(self.desired(app, 1))
            await self.wait(lambda app=app: (app, "web.1") in self.up)
            times.append(self.up[(app, "web.1")] - t0)
            await self.manager.remove_app(app)
        return times

    async def scale(self, count: int) -> tuple[float, float]:
        app = "scale"
        await self.manager.apply(self.desired(app, 0))
        t0 = time.perf_counter()
        await self.manager.apply(self.desired(app, count))
        names = [f"web.{n}" for n in range(1, count + 1)]
        await self.wait(lambda: all((app, n) in self.up for n in names))
        up = max(self.up[(app, n)] for n in names) - t0
        t1 = time.perf_counter()
        await self.manager.apply(self.desired(app, 0))
        await self.wait(lambda: not self.manager.dynos(app))
        runtime: Any = self.manager.runtime
        await self.wait(lambda: runtime.live_count == 0)
        down = time.perf_counter() - t1
        return up, down


def fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):7.1f} ms  best {ms[0]:7.1f}  worst {ms[-1]:7.1f}  (n={len(ms)})"


async def run_one(runtime: str, root: Path, runs: int, count: int) -> dict[str, Any]:
    bench = Bench(runtime, root)
    await bench.manager.start()
    try:
        await bench.start_to_up(1)  # warm-up: page cache, image layers, interpreter
        bench.up.clear()
        up_times = await bench.start_to_up(runs)
        scale_up, scale_down = await bench.scale(count)
    finally:
        await bench.manager.shutdown()
    return {"up": up_times, "scale_up": scale_up, "scale_down": scale_down}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--runtime", choices=["process", "docker", "both"], default="both")
    args = parser.parse_args()
    names = ["process", "docker"] if args.runtime == "both" else [args.runtime]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="paas-bench-docker-") as tmp:
        for name in names:
            results[name] = await run_one(name, Path(tmp), args.runs, args.scale)
    print(f"dyno start-to-up (apply web=1 → up), {args.runs} runs")
    for name in names:
        print(f"  {name:>8}: {fmt(results[name]['up'])}")
    print(f"ps:scale web={args.scale} (from 0 → all up) and back to 0 (all gone)")
    for name in names:
        r = results[name]
        print(f"  {name:>8}: up {r['scale_up'] * 1000:7.0f} ms   down {r['scale_down'] * 1000:7.0f} ms")
    if len(names) == 2:
        p, d = results["process"], results["docker"]
        ratio_up = statistics.median(d["up"]) / statistics.median(p["up"])
        print(
            f"docker / process: start-to-up x{ratio_up:.1f}, scale up x{d['scale_up'] / p['scale_up']:.1f}, "
            f"scale down x{d['scale_down'] / p['scale_down']:.1f}"
        )


if __name__ == "__main__":
    uvloop.run(main())
