"""What a stalled or dead log drain costs the router: a real `paas daemon` (the bench app of
bench/router_daemon.py, its web dyno a trivial nginx) measured with wrk in interleaved rounds,
with no drain, with a syslog drain whose receiver accepts and never reads (stalled), and with
one whose port refuses connections (dead).

    .venv/bin/python bench/drains.py [--duration 5] [--rounds 3] [--connections 32]

Printed per target (medians over the rounds): requests/s, p50, p99, errors, and the daemon's
CPU time per request (its own process: router, log hub, drains; not the dyno). Each drain's
buffer is bounded (1,024 lines), so a stalled drain drops lines (counted, L10) instead of
holding memory or slowing anything. Everything on 127.0.0.1; every run bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_daemon

BENCH = Path(__file__).resolve().parent

_spec = importlib.util.spec_from_file_location("bench_router", BENCH / "router.py")
assert _spec is not None and _spec.loader is not None
bench_router = importlib.util.module_from_spec(_spec)
sys.modules["bench_router"] = bench_router  # its dataclasses look their module up
_spec.loader.exec_module(bench_router)


@contextlib.contextmanager
def stalled_receiver() -> Iterator[int]:
    """A TCP listener that accepts and never reads (a small receive buffer: stalls sooner)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(sock.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        for conn in held:
            conn.close()
        sock.close()


def drains_json(daemon: router_daemon.Daemon) -> list[dict[str, Any]]:
    paas = str(Path(sys.executable).with_name("paas"))
    out = subprocess.run(
        [paas, "drains", "--json", "-a", router_daemon.APP], env=daemon.env, capture_output=True, timeout=60
    )
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


def measure(
    daemon: router_daemon.Daemon, targets: dict[str, int | None], args: argparse.Namespace
) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """Interleaved rounds: each target's drain is added, measured with wrk, then removed."""
    runs: dict[str, list[Any]] = {name: [] for name in targets}
    dropped: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, port in targets.items():
            url = f"syslog://127.0.0.1:{port}"
            if port is not None:
                daemon.cli("drains:add", url, "-a", router_daemon.APP)
            result = bench_router.wrk(
                name, daemon.router_port, args.duration, args.connections, daemon.process, False
            )
            runs[name].append(result)
            if port is not None:
                status = drains_json(daemon)[0].get("status") or {}
                dropped[name] = dropped.get(name, 0) + int(status.get("dropped", 0))
                daemon.cli("drains:remove", url, "-a", router_daemon.APP)
    return runs, dropped


def report(runs: dict[str, list[Any]], dropped: dict[str, int], args: argparse.Namespace) -> None:
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s x {args.rounds} rounds (medians), "
        "through a paas daemon's router to a trivial nginx web dyno"
    )
    print(f"{'target':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'CPU µs/req':>12}  dropped")
    base = bench_router.median_result(runs["no drain"])
    for name, results in runs.items():
        r = bench_router.median_result(results)
        print(
            f"{name:<16}{r.rps:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}{r.cpu_us:>12.1f}"
            f"  {dropped.get(name, 0)}"
        )
    for name in ("stalled drain", "dead drain"):
        r = bench_router.median_result(runs[name])
        print(
            f"{name} / no drain: req/s x{r.rps / base.rps:.2f}, p99 x{r.p99_ms / base.p99_ms:.2f}, "
            f"CPU/req x{r.cpu_us / base.cpu_us:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    dead = bench_router.free_port()  # nothing listens there
    with (
        tempfile.TemporaryDirectory() as tmp,
        stalled_receiver() as stalled,
        router_daemon.paas_daemon(Path(tmp)) as daemon,
    ):
        targets: dict[str, int | None] = {"no drain": None, "stalled drain": stalled, "dead drain": dead}
        runs, dropped = measure(daemon, targets, args)
        report(runs, dropped, args)


if __name__ == "__main__":
    main()
