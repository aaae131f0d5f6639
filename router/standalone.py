"""Run a router on its own, outside the daemon (benchmarks, tests that measure its process).

    python -m router --port 5000 --app demo=127.0.0.1:8001,127.0.0.1:8002 [--keepalive]
                     [--log hub|stdout|null] [--workers N | --fleet N]

Timers come from the usual PAAS_ROUTER_* environment variables. Log lines go through a real
LogHub (as in the daemon) unless `--log` says otherwise; each request's record is published
as a `router.request` event on a bus with a listener (as in the daemon). `--workers N` starts N processes
sharing the port with SO_REUSEPORT (each with its own bus; the daemon's router processes,
router.fleet, send theirs back to the daemon instead). `--fleet N` runs the router exactly as the
daemon does: this process plays the daemon (router.fleet.RouterFleet: N `router.fleet.worker`
processes fed over their channels, records and log lines delivered here into the LogHub and the
bus). Prints `PORT <n>` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable

import uvloop

from common.config import Settings
from common.events import Event, EventBus
from common.loghub import LogHub
from router.faults import FaultRegistry
from router.fleet import RouterFleet
from router.fleet.sockets import reserve_port
from router.metrics import bus_publisher
from router.server import Router
from router.table import AppRoute, Backend, RouteTable


def _parse_app(spec: str) -> AppRoute:
    name, _, targets = spec.partition("=")
    if not name or not targets:
        raise argparse.ArgumentTypeError(f"--app wants NAME=HOST:PORT[,HOST:PORT...], not {spec!r}")
    backends = []
    for i, target in enumerate(targets.split(","), start=1):
        host, _, port = target.rpartition(":")
        backends.append(Backend(f"web.{i}", host or "127.0.0.1", int(port)))
    return AppRoute(name, released=True, web_quantity=len(backends), backends=backends)


def _log_function(kind: str, bus: EventBus) -> Callable[[str, str], None]:
    if kind == "null":
        return lambda app, text: None
    if kind == "stdout":

        def to_stdout(app: str, text: str) -> None:
            sys.stdout.write(f"{app} heroku[router]: {text}\n")

        return to_stdout
    return LogHub(bus).router_line


class _RecordCounter:
    """A `router.request` listener, as the daemon always has one (its platform table):
    with it every request's structured event is really built and delivered."""

    def __init__(self) -> None:
        self.events = 0

    def __call__(self, event: Event) -> None:
        self.events += 1


def _bus() -> EventBus:
    bus = EventBus()
    bus.listen(["router.request"], _RecordCounter())
    return bus


async def _until_stopped() -> None:
    """Until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _table(args: argparse.Namespace) -> RouteTable:
    table = RouteTable()
    for spec in args.app:
        route = _parse_app(spec)
        route.keepalive = args.keepalive
        table.update(route)
    return table


async def _serve_fleet(args: argparse.Namespace) -> None:
    """The daemon's shape: router processes fed and drained by a RouterFleet in this loop."""
    bus = _bus()
    settings = Settings.from_env().with_(router_workers=args.fleet)
    fleet = RouterFleet(
        _table(args),
        settings,
        FaultRegistry(),
        _log_function(args.log, bus),
        bus_publisher(bus),
        notice=lambda text: print(f"router: {text}", file=sys.stderr, flush=True),
    )
    await fleet.start(reserve_port(args.host, args.port), None, None)
    print(f"PORT {fleet.port}", flush=True)
    await _until_stopped()
    await fleet.stop()


async def _serve(args: argparse.Namespace, sock: socket.socket | None) -> None:
    table = _table(args)
    bus = _bus()
    router = Router(
        table, Settings.from_env(), log=_log_function(args.log, bus), on_request=bus_publisher(bus)
    )
    if sock is not None:
        port = await router.start_on_socket(sock)
    else:
        port = await router.start(args.host, args.port)
    if sock is None or args.announce:
        print(f"PORT {port}", flush=True)
    await _until_stopped()
    await router.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m router", description="Run the paas router standalone.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--app", action="append", default=[], help="NAME=HOST:PORT[,HOST:PORT...]")
    parser.add_argument("--keepalive", action="store_true", help="Router 2.0: reuse dyno connections")
    parser.add_argument("--log", choices=("hub", "stdout", "null"), default="hub")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--fleet", type=int, default=0, help="N router processes run as the daemon runs them (router.fleet)"
    )
    args = parser.parse_args(argv)
    args.announce = False
    if args.fleet > 0:
        uvloop.run(_serve_fleet(args))
        return
    if args.workers <= 1:
        uvloop.run(_serve(args, None))
        return
    # one listening socket per worker on the same port; the kernel spreads connections
    first = _reuseport_socket(args.host, args.port)
    port = first.getsockname()[1]
    children = []
    for i in range(args.workers):
        sock = first if i == 0 else _reuseport_socket(args.host, port)
        pid = os.fork()
        if pid == 0:
            uvloop.run(_serve(args, sock))
            os._exit(0)
        children.append(pid)
        sock.close()
    print(f"PORT {port}", flush=True)

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock
