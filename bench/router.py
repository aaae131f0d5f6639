"""Router throughput and latency against nginx and HAProxy, in one run, with one load generator.

    .venv/bin/python bench/router.py [--duration 5] [--rounds 3] [--connections 64] [--workers 1]
                                     [--interpreted] [--daemon] [--reference DIR]

The same trivial backend (nginx, one worker, `return 200 "ok"`) is reached
  1. directly,
  2. through nginx (one worker) and HAProxy (one thread), each configured to do what the
     router does per request (request id, X-Forwarded-*, X-Request-Start, Via, an access-log line),
  3. through the router, every feature on (request id, Heroku headers, the heroku[router]
     line, metrics, structured records), its hot path compiled with mypyc when built (see
     common.accel; --interpreted adds the same router with PAAS_ROUTER_COMPILED=0):
     - as the daemon runs it: one router process (router.fleet.worker) fed by a stand-in daemon
       (`python -m router --fleet 1`) that receives its records and lines into a LogHub and a
       bus; the CPU counted is the router process's alone (the target of issue 18);
     - as one process with its log lines in a LogHub of its own (`python -m router`: the
       in-daemon shape, PAAS_ROUTER_WORKERS=0), and (--workers 1,2) as N such processes
       sharing the port with SO_REUSEPORT;
     - (--daemon) through a real `paas daemon` whose app's web dyno is the same backend (its
       own CPU only), and (--reference DIR) the in-daemon-shape router of another checkout,
       e.g. the main branch before a change, side by side in the same rounds (each checkout's
       compiled build is made first if missing),
first opening a new backend connection per request (nginx's default, Heroku's legacy router),
then reusing backend connections (nginx upstream keepalive, HAProxy http-reuse, the router's
http-routing-2-dot-0 mode). wrk (one thread, one connection count) measures each target in
interleaved rounds; medians are printed: requests/s, p50, p99, errors, and the proxy's CPU
time per request (user+system of its processes; unlike requests/s this barely moves when
other work shares the machine). The last lines give the router's ratio to nginx. Everything
listens on 127.0.0.1; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_configs
import router_daemon

ROOT = Path(__file__).resolve().parents[1]
HOST_HEADER = "bench.localhost"
FLEET_LABEL = "paas router process (as the daemon runs it)"
TARGET = 0.75  # issue 18: one router process, throughput against nginx with one worker


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # CPU time of the proxy process(es) per request: robust to a noisy machine
    cpu_spread: tuple[float, float] = (0.0, 0.0)  # lowest and highest of the rounds


def median_result(runs: list[Result]) -> Result:
    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    cpus = [r.cpu_us for r in runs]
    return Result(
        runs[0].name,
        med([r.rps for r in runs]),
        med([r.p50_ms for r in runs]),
        med([r.p99_ms for r in runs]),
        sum(r.errors for r in runs),
        med(cpus),
        (min(cpus), max(cpus)),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


@contextlib.contextmanager
def process(
    cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[psutil.Process]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            wait_port(port)
            yield psutil.Process(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(proc: psutil.Process | None, children: bool = True) -> float:
    """User+system CPU of a process and its children (router workers; not a daemon's dynos)."""
    if proc is None:
        return 0.0
    total = 0.0
    for p in [proc, *(proc.children(recursive=True) if children else ())]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _to_ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        return float("nan")
    number, unit = float(m.group(1)), m.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    name: str, port: int, duration: int, connections: int, proc: psutil.Process | None, children: bool = True
) -> Result:
    url = f"http://127.0.0.1:{port}/"
    base = ["wrk", "-t1", f"-c{connections}", "--latency", "-H", f"Host: {HOST_HEADER}"]
    subprocess.run([*base, "-d1s", url], capture_output=True, check=True)  # warm-up
    cpu_before = cpu_seconds(proc, children)
    out = subprocess.run([*base, f"-d{duration}s", url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(proc, children) - cpu_before
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", out))
    total = int(_find(r"(\d+) requests in", out))
    # anchored: "77.50%" in the thread-stats lines must not pass for the 50th percentile
    p50 = _to_ms(_find(r"(?m)^\s+50%\s+(\S+)", out))
    p99 = _to_ms(_find(r"(?m)^\s+99%\s+(\S+)", out))
    err = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock_err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(err.group(1)) if err else 0
    if sock_err:
        errors += sum(int(x) for x in sock_err.groups())
    return Result(name, rps, p50, p99, errors, cpu / max(total, 1) * 1e6 if proc is not None else 0.0)


def _find(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise RuntimeError(f"unexpected wrk output: {text!r}")
    return m.group(1)


def run(
    duration: int,
    connections: int,
    workers: list[int],
    rounds: int,
    interpreted: bool,
    daemon: bool,
    reference: Path | None = None,
    fleet: bool = True,
) -> list[tuple[str, list[Result]]]:
    for tool in ("nginx", "haproxy", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/router.py needs {tool} (Debian: nginx-light, haproxy, wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="paas-bench-router-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for tree in [ROOT] + ([reference] if reference is not None else []):
        # each checkout's own compiled build (builds are kept per source hash, the newest few
        # only): a reference measured interpreted against a compiled router compares nothing
        subprocess.run(
            [sys.executable, "-m", "router.compile"],
            env=dict(env, PYTHONPATH=str(tree)),
            cwd=tree,
            check=True,
        )
    sections: list[tuple[str, list[Result]]] = []
    try:
        backend_port = free_port()
        conf = tmp / "backend.conf"
        conf.write_text(router_configs.nginx_backend(tmp, backend_port))
        nginx_backend = ["nginx", "-p", str(tmp), "-e", str(tmp / "backend-e.log"), "-c", str(conf)]
        with contextlib.ExitStack() as outer:
            outer.enter_context(process(nginx_backend, backend_port, tmp / "backend.out"))
            paasd = outer.enter_context(router_daemon.paas_daemon(tmp)) if daemon else None
            for reuse in (False, True):
                with contextlib.ExitStack() as stack:
                    targets: list[tuple[str, int, psutil.Process | None]] = [
                        ("direct (no proxy)", backend_port, None)
                    ]
                    port = free_port()
                    conf = tmp / f"nginx-proxy-{reuse}.conf"
                    conf.write_text(router_configs.nginx_proxy(tmp, port, backend_port, reuse))
                    cmd = ["nginx", "-p", str(tmp), "-e", str(tmp / "proxy-e.log"), "-c", str(conf)]
                    targets.append(
                        ("nginx (1 worker)", port, stack.enter_context(process(cmd, port, tmp / "n.out")))
                    )
                    port = free_port()
                    conf = tmp / f"haproxy-{reuse}.cfg"
                    conf.write_text(router_configs.haproxy(tmp, port, backend_port, reuse))
                    cmd = ["haproxy", "-f", str(conf)]
                    targets.append(
                        ("haproxy (1 thread)", port, stack.enter_context(process(cmd, port, tmp / "h.out")))
                    )
                    variants = [(n, True, ROOT) for n in workers] + (
                        [(1, False, ROOT)] if interpreted else []
                    )
                    variants += [(1, True, reference)] if reference is not None else []
                    if fleet:
                        # the daemon's shape: a router process fed by, and reporting to, a stand-in
                        # daemon (router.fleet); the CPU counted is the router process's alone
                        port = free_port()
                        cmd = [sys.executable, "-m", "router", "--port", str(port), "--fleet", "1"]
                        cmd += ["--app", f"bench=127.0.0.1:{backend_port}"]
                        cmd += ["--keepalive"] if reuse else []
                        parent = stack.enter_context(process(cmd, port, tmp / f"fleet-{reuse}.out", env))
                        targets.append((FLEET_LABEL, port, parent.children()[0]))
                    for n, compiled, tree in variants:
                        port = free_port()
                        cmd = [sys.executable, "-m", "router", "--port", str(port)]
                        cmd += ["--app", f"bench=127.0.0.1:{backend_port}"]
                        cmd += ["--keepalive"] if reuse else []
                        cmd += ["--workers", str(n)] if n > 1 else []
                        label = "paas router" + (
                            f" ({n} SO_REUSEPORT procs)" if n > 1 else " (1 process, in-daemon shape)"
                        )
                        label += "" if compiled else " interpreted"
                        label += "" if tree == ROOT else " reference"
                        log = tmp / f"router-{reuse}-{n}-{compiled}-{tree == ROOT}.out"
                        router_env = dict(env, PYTHONPATH=str(tree))
                        router_env.update({} if compiled else {"PAAS_ROUTER_COMPILED": "0"})
                        targets.append(
                            (label, port, stack.enter_context(process(cmd, port, log, router_env, tree)))
                        )
                    if paasd is not None:
                        paasd.set_router2(reuse)
                        targets.append(("paas daemon (its router)", paasd.router_port, paasd.process))
                    runs: dict[str, list[Result]] = {name: [] for name, _, _ in targets}
                    for _ in range(rounds):  # interleaved, so background load hits every target alike
                        for name, port, proc in targets:
                            # a daemon's children are its dynos (here: the backend), not router work
                            children = not name.startswith("paas daemon") and name != FLEET_LABEL
                            runs[name].append(wrk(name, port, duration, connections, proc, children))
                title = (
                    "backend connections reused (nginx keepalive / HAProxy http-reuse / router http-routing-2-dot-0)"
                    if reuse
                    else "new backend connection per request (nginx default / Heroku legacy router)"
                )
                sections.append((title, [median_result(r) for r in runs.values()]))
        return sections
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(sections: list[tuple[str, list[Result]]], duration: int, connections: int, rounds: int) -> None:
    load = os.getloadavg()[0]
    from common import accel

    build = (
        "compiled with mypyc"
        if accel.wanted() and (accel.build_dir() / accel.COMPLETE).is_file()
        else ("interpreted (no build for these sources: python -m router.compile)")
    )
    print(f"router hot path: {build}")
    print(
        f"wrk -t1 -c{connections} -d{duration}s x {rounds} rounds (medians), trivial nginx backend, "
        f"127.0.0.1, {os.cpu_count()} CPUs, load average {load:.1f} at the end"
    )
    for title, results in sections:
        print(f"\n{title}")
        print(
            f"  {'':42} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'CPU us/req':>10} {'(range)':>13}"
        )
        for r in results:
            cpu = f"{r.cpu_us:10.1f}" if r.cpu_us else f"{'-':>10}"
            spread = f"{r.cpu_spread[0]:6.1f}-{r.cpu_spread[1]:<6.1f}" if r.cpu_us else ""
            print(
                f"  {r.name:42} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.errors:6d} {cpu} {spread:>13}"
            )
        nginx = next(r for r in results if r.name.startswith("nginx"))
        reference = next((r for r in results if r.name.endswith(" reference")), None)
        for r in results:
            if r.name.startswith("paas "):
                print(
                    f"  {r.name} / nginx: throughput {r.rps / nginx.rps:.2f} (target >= {TARGET}), "
                    f"CPU per request {r.cpu_us / nginx.cpu_us:.1f}x"
                )
        if reference is not None:
            this = next(r for r in results if r.name == "paas router (1 process, in-daemon shape)")
            print(
                f"  this router / reference: throughput {this.rps / reference.rps:.2f}, "
                f"CPU per request {this.cpu_us / reference.cpu_us:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--workers", default="1", help="in-daemon-shape router process counts to measure, e.g. 1,2"
    )
    parser.add_argument(
        "--interpreted", action="store_true", help="also measure the router with PAAS_ROUTER_COMPILED=0"
    )
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="also measure a real `paas daemon` routing to an app whose web dyno is the same backend",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="also measure the router of another checkout (e.g. main before a change), side by side",
    )
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    reference = args.reference.resolve() if args.reference is not None else None
    report(
        run(args.duration, args.connections, workers, args.rounds, args.interpreted, args.daemon, reference),
        args.duration,
        args.connections,
        args.rounds,
    )


if __name__ == "__main__":
    main()
