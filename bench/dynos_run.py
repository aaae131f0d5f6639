"""Benchmark: how long `run` takes to print its first line.

Two measurements, each over several runs of `echo first-line` in a one-off dyno:
  manager  DynoManager.run_oneoff(attach=True) → start → first output chunk (no HTTP);
  cli      a real `paas daemon` process on a throw-away PAAS_HOME, then the `paas run` command:
           from exec of the CLI to the first line on its stdout (includes the CLI's own start,
           the API call, the WebSocket attach and the dyno's boot).

    .venv/bin/python bench/dynos_run.py [--runs 10] [--skip-cli]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon_env import daemon_env

from common.config import Settings
from common.events import EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.runtimes.process import ProcessRuntime
from dynos.types import AppDesired

PAAS = str(Path(sys.executable).with_name("paas"))


def summary(name: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    print(
        f"{name:>8}: median {statistics.median(ms):7.1f} ms   best {ms[0]:7.1f} ms   worst {ms[-1]:7.1f} ms   (n={len(ms)})"
    )


async def bench_manager(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="paas-bench-") as tmp:
        root = Path(tmp)
        slug = root / "slug"
        slug.mkdir()
        settings = Settings(home=root / "home", runtime="process", cycle_interval=0)
        bus = EventBus()
        manager = DynoManager(settings, bus, LogHub(bus), ProcessRuntime(settings))
        await manager.start()
        desired = AppDesired("bench", 3, slug, {}, ())
        times = []
        try:
            for _ in range(runs):
                t0 = time.perf_counter()
                run = await manager.run_oneoff(desired, "echo first-line", attach=True)
                await run.start(tty=False)
                async for _stream, chunk in run.output():
                    if b"\n" in chunk:
                        times.append(time.perf_counter() - t0)
                        break
                await run.wait()
        finally:
            await manager.shutdown()
        return times


def bench_cli(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="paas-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = daemon_env(home)
        log = open(home / "daemon.log", "wb")  # noqa: SIM115
        daemon = subprocess.Popen([PAAS, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not (home / "daemon.json").exists():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("daemon did not start: " + (home / "daemon.log").read_text()[-2000:])
                time.sleep(0.05)
            json.loads((home / "daemon.json").read_text())
            subprocess.run([PAAS, "apps:create", "bench"], env=env, check=True, capture_output=True)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    [PAAS, "run", "-a", "bench", "echo first-line"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                assert proc.stdout is not None
                buf = b""
                while b"\n" not in buf:
                    ready, _, _ = select.select([proc.stdout], [], [], 30)
                    if not ready:
                        raise RuntimeError("paas run printed nothing in 30 s")
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError("paas run: " + proc.stderr.read().decode() if proc.stderr else "")
                    buf += chunk
                times.append(time.perf_counter() - t0)
                proc.communicate(timeout=30)
            return times
        finally:
            daemon.terminate()
            daemon.wait(60)
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be 1..100")
    print("time from request to the first line of `echo first-line` in a one-off dyno")
    summary("manager", asyncio.run(bench_manager(args.runs)))
    if not args.skip_cli:
        t0 = time.perf_counter()
        subprocess.run([PAAS, "--version"], capture_output=True, check=True)
        cli_start = time.perf_counter() - t0
        summary("cli", bench_cli(args.runs))
        print(f"(of which the bare CLI start, `paas --version`: {cli_start * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
