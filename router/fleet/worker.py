"""One router process: `python -m router.fleet.worker --channel FD --listen FD [--tls FD]`.

Started by router.fleet.RouterFleet with the daemon's end of a socket pair and its own
SO_REUSEPORT listening sockets (plain, and TLS when the daemon serves it from the fleet). It
reads a full snapshot first (router settings, routes, domains, faults, certificate paths),
then serves, applying the deltas that follow in sequence order and acknowledging each one; its
records and log lines go back through an Outbox. Its quarantine, backlog and dyno connection
pools are its own, as each of Heroku's routers keeps its own.

SIGTERM drains: stop accepting, let requests in flight finish (up to the router timeout),
send what is left, exit. A closed channel (the daemon is gone) does the same. SIGINT is left to
the daemon (a terminal's Ctrl-C reaches the whole process group; the daemon then stops us).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys

import uvloop

from router.certstore import CertStore
from router.connector import TcpConnector
from router.faults import FaultConnector, FaultRegistry
from router.fleet.outbox import Outbox
from router.fleet.wire import (
    ChannelClosed,
    Message,
    certs_from_wire,
    encode,
    faults_from_wire,
    read_message,
    route_from_wire,
    settings_from_wire,
)
from router.server import Router
from router.table import RouteTable
from router.tls import TlsListener, start_tls

DRAIN_MAX = 30.0  # a request in flight gets at most this long once SIGTERM arrives


class Worker:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        self.reader = reader
        self.writer = writer
        self.index = index
        self.table = RouteTable()
        self.faults = FaultRegistry()
        self.seq = 0
        self.router: Router | None = None
        self.tls: TlsListener | None = None
        self.certs: CertStore | None = None
        self.outbox: Outbox | None = None
        self.stopping = asyncio.Event()

    async def start(self, listen: socket.socket, tls: socket.socket | None) -> None:
        snapshot = await read_message(self.reader)
        if snapshot.get("op") != "snapshot":
            raise ChannelClosed(f"first message is {snapshot.get('op')!r}, not a snapshot")
        settings = settings_from_wire(snapshot["settings"])
        self.apply(snapshot)
        self.outbox = Outbox(self.writer, int(snapshot["channel_buffer"]))
        connector = FaultConnector(TcpConnector(), self.faults)
        self.router = Router(
            self.table, settings, self.outbox.line, self.outbox.record, connector, keep_metrics=False
        )
        await self.router.start(sock=listen)
        if tls is not None and self.certs is not None:
            self.tls = await start_tls(self.router, self.certs, sock=tls)
        self.send({"op": "ready", "pid": os.getpid(), "seq": self.seq})

    def send(self, message: Message) -> None:
        if not self.writer.transport.is_closing():
            self.writer.write(encode(message))

    def apply(self, message: Message) -> None:
        """One change from the daemon, in order: a gap means a lost message, and a router
        with a table it cannot trust exits (the daemon starts a fresh one from a snapshot)."""
        op = message["op"]
        seq = int(message["seq"])
        if op == "snapshot":
            self.seq = seq
            self._apply_snapshot(message)
            return
        if seq != self.seq + 1:
            raise ChannelClosed(f"message {seq} after {self.seq}: out of order")
        self.seq = seq
        table = self.table
        if op == "route":
            table.update(route_from_wire(message["route"]))
        elif op == "remove":
            table.remove(message["app"])
        elif op == "domains":
            table.set_domains(message["domains"])
        elif op == "faults":
            faults_from_wire(self.faults, message["app"], message["entries"])
        elif op == "certs" and self.certs is not None:
            self.certs.update(certs_from_wire(message["hosts"]))
        elif op != "certs":
            raise ChannelClosed(f"unknown message {op!r}")
        self.send({"op": "ack", "seq": seq})

    def _apply_snapshot(self, message: Message) -> None:
        for data in message["routes"]:
            self.table.update(route_from_wire(data))
        self.table.set_domains(message["domains"])
        for app, entries in message["faults"].items():
            faults_from_wire(self.faults, app, entries)
        certs = message.get("certs")
        if certs is not None:
            self.certs = CertStore(certs_from_wire({"": certs["default"]})[""])
            self.certs.update(certs_from_wire(certs["hosts"]))

    def figures(self, query: int) -> Message:
        router, outbox = self.router, self.outbox
        assert router is not None and outbox is not None
        faults = self.faults
        return {
            "op": "figures",
            "id": query,
            "pid": os.getpid(),
            "router": router.figures(),
            "tls": self.tls.metrics() if self.tls is not None else None,
            "channel": outbox.figures(),
            "faults": {
                "stats": faults.stats(),
                "entries": [[e.app, e.target, e.fault.name, e.connections] for e in faults.entries()],
            },
        }

    async def listen(self) -> None:
        """The daemon's messages until the channel closes or we stop."""
        try:
            while True:
                message = await read_message(self.reader)
                if message["op"] == "query":
                    assert self.outbox is not None
                    self.outbox.flush()  # the records finished so far arrive before the answer
                    self.send(self.figures(int(message["id"])))
                else:
                    self.apply(message)
        except ChannelClosed as exc:
            if not self.stopping.is_set():
                print(f"router process {self.index}: channel closed ({exc})", file=sys.stderr, flush=True)
        finally:
            self.stopping.set()

    async def stop(self) -> None:
        router = self.router
        if router is not None:
            if self.tls is not None:
                self.tls.close()
            await router.drain(min(DRAIN_MAX, router.timeout + 1))
            if self.tls is not None:
                await self.tls.stop()
            await router.stop()
        if self.outbox is not None:
            self.outbox.flush()
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (TimeoutError, ConnectionError):
            pass


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    channel = socket.socket(fileno=args.channel)
    listen = socket.socket(fileno=args.listen)
    tls = socket.socket(fileno=args.tls) if args.tls is not None else None
    for sock in (listen, tls):
        if sock is not None:
            sock.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=channel)
    worker = Worker(reader, writer, args.index)
    loop.add_signal_handler(signal.SIGTERM, worker.stopping.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    try:
        await worker.start(listen, tls)
    except ChannelClosed as exc:
        print(f"router process {args.index}: no snapshot ({exc})", file=sys.stderr, flush=True)
        return 1
    listening = asyncio.create_task(worker.listen())
    await worker.stopping.wait()
    await worker.stop()
    listening.cancel()
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m router.fleet.worker")
    parser.add_argument("--channel", type=int, required=True, help="fd: the daemon's socket pair end")
    parser.add_argument("--listen", type=int, required=True, help="fd: this process's router socket")
    parser.add_argument("--tls", type=int, default=None, help="fd: this process's TLS router socket")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    sys.exit(uvloop.run(serve(args)))


if __name__ == "__main__":
    main()
