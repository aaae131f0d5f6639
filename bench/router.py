"""Router throughput and latency against nginx and HAProxy, in one run, with one load generator.

    .venv/bin/python bench/router.py [--duration 8] [--connections 64] [--workers 1,2]

The same trivial backend (nginx, one worker, `return 200 "ok"`) is reached
  1. directly,
  2. through nginx (one worker) and HAProxy (one thread), each doing what the router does per
     request (request id, X-Forwarded-*, X-Request-Start, Via, an access-log line),
  3. through the router (`python -m router`, uvloop, every feature on: request id, headers,
     the heroku[router] line into a real LogHub, metrics),
first opening a new backend connection per request (nginx's default, Heroku's legacy router),
then reusing backend connections (nginx upstream keepalive, HAProxy http-reuse, the router's
http-routing-2-dot-0 mode). wrk (one thread) measures each. Prints requests/s, p50 and p99,
and the router's ratio to nginx. Everything listens on 127.0.0.1; load is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_configs

ROOT = Path(__file__).resolve().parents[1]
HOST_HEADER = "bench.localhost"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


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
def process(cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_port(port)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _to_ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        return float("nan")
    number, unit = float(m.group(1)), m.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(name: str, port: int, duration: float, connections: int) -> Result:
    url = f"http://127.0.0.1:{port}/"
    base = ["wrk", "-t1", f"-c{connections}", "--latency", "-H", f"Host: {HOST_HEADER}"]
    subprocess.run([*base, "-d1s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*base, f"-d{int(duration)}s", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _to_ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _to_ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    err = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock_err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(err.group(1)) if err else 0
    if sock_err:
        errors += sum(int(x) for x in sock_err.groups())
    return Result(name, rps, p50, p99, errors)


def run(duration: float, connections: int, workers: list[int]) -> list[tuple[str, list[Result]]]:
    for tool in ("nginx", "haproxy", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/router.py needs {tool} (Debian: nginx-light, haproxy, wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="paas-bench-router-"))
    try:
        backend_port = free_port()
        conf = tmp / "backend.conf"
        conf.write_text(router_configs.nginx_backend(tmp, backend_port))
        sections: list[tuple[str, list[Result]]] = []
        with process(
            ["nginx", "-p", str(tmp), "-e", str(tmp / "backend-e.log"), "-c", str(conf)],
            backend_port,
            tmp / "backend.out",
        ):
            direct = wrk("direct (no proxy)", backend_port, duration, connections)
            for reuse in (False, True):
                results = [direct]
                port = free_port()
                conf = tmp / f"nginx-proxy-{reuse}.conf"
                conf.write_text(router_configs.nginx_proxy(tmp, port, backend_port, reuse))
                with process(
                    ["nginx", "-p", str(tmp), "-e", str(tmp / "proxy-e.log"), "-c", str(conf)],
                    port,
                    tmp / "nginx.out",
                ):
                    results.append(wrk("nginx (1 worker)", port, duration, connections))
                port = free_port()
                conf = tmp / f"haproxy-{reuse}.cfg"
                conf.write_text(router_configs.haproxy(tmp, port, backend_port, reuse))
                with process(["haproxy", "-f", str(conf)], port, tmp / "haproxy.out"):
                    results.append(wrk("haproxy (1 thread)", port, duration, connections))
                for n in workers:
                    port = free_port()
                    cmd = [
                        sys.executable,
                        "-m",
                        "router",
                        "--port",
                        str(port),
                        "--app",
                        f"bench=127.0.0.1:{backend_port}",
                    ]
                    if reuse:
                        cmd.append("--keepalive")
                    if n > 1:
                        cmd += ["--workers", str(n)]
                    env = dict(os.environ, PYTHONPATH=str(ROOT))
                    label = "paas router" + (f" ({n} SO_REUSEPORT workers)" if n > 1 else " (1 process)")
                    with process(cmd, port, tmp / f"router-{reuse}-{n}.out", env=env):
                        results.append(wrk(label, port, duration, connections))
                title = (
                    "backend connections reused (nginx keepalive / HAProxy http-reuse / router http-routing-2-dot-0)"
                    if reuse
                    else "new backend connection per request (nginx default / Heroku legacy router)"
                )
                sections.append((title, results))
        return sections
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(sections: list[tuple[str, list[Result]]], duration: float, connections: int) -> None:
    print(
        f"wrk -t1 -c{connections} -d{duration}s, trivial nginx backend, all on 127.0.0.1, {os.cpu_count()} CPUs"
    )
    for title, results in sections:
        print(f"\n{title}")
        print(f"  {'':38} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for r in results:
            print(f"  {r.name:38} {r.rps:10.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
        nginx = next(r for r in results if r.name.startswith("nginx"))
        for r in results:
            if r.name.startswith("paas router"):
                print(f"  ratio {r.name} / nginx: {r.rps / nginx.rps:.2f}  (target >= 0.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", default="1", help="router process counts to measure, e.g. 1,2")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    report(run(args.duration, args.connections, workers), args.duration, args.connections)


if __name__ == "__main__":
    main()
