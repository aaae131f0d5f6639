"""Heroku's rendezvous protocol: how `heroku run` attaches a terminal to a one-off dyno.

A one-off dyno created with `attach: true` gets `attach_url = rendezvous://127.0.0.1:<port>/<secret>`.
The client opens TLS to that host and port (the certificate is the daemon's local CA's, which
`NODE_EXTRA_CA_CERTS` makes Node trust), writes `<secret>\\r\\n`, and discards the first chunk it
receives (`rendezvous\\r\\n`); from then on the connection is the terminal, both ways. The dyno's
end closes the connection (the exit status travels only as the line `heroku run --exit-code`
appends to the command); the client's end (Ctrl-C in the CLI ends the connection) is the dyno's
SIGHUP, then R16 and SIGKILL if it does not stop.

Without a terminal (`force_no_tty`, or `heroku run --no-tty`) the CLI sends Ctrl-D (0x04) when
its stdin ends: that byte closes the dyno's stdin. With a terminal it goes through, and the
terminal's line discipline reads it as end of input, as on Heroku.

The secret is the `AttachTickets` ticket, single use, shared with the WebSocket attach
(`/attach/<secret>`): whichever door redeems it first gets the dyno.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable

from dynos.manager import DynoManager
from dynos.oneoff import OneOff
from paas.api.attach import AttachTickets, Ticket

HELLO = b"rendezvous\r\n"
SECRET_LINE_LIMIT = 512  # bytes: a secret line longer than this is not one
SECRET_TIMEOUT = 30.0  # seconds a connection may take to send its secret line
MAX_SESSIONS = 256  # attached terminals at once; past this a connection is refused
EOT = b"\x04"


class Rendezvous:
    """The TLS listener (127.0.0.1 only) and one session per attached terminal."""

    def __init__(
        self,
        tickets: AttachTickets,
        dynos: DynoManager,
        context: ssl.SSLContext,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.tickets = tickets
        self.dynos = dynos
        self.context = context
        self.report_error = report_error
        self.port = 0
        self.refused = 0  # connections turned away: a bad secret, or too many sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(
            self._accept, sock=sock, ssl=self.context, ssl_handshake_timeout=SECRET_TIMEOUT
        )
        self.port = sock.getsockname()[1]

    def url(self, secret: str) -> str:
        return f"rendezvous://127.0.0.1:{self.port}/{secret}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.wait(self._sessions, timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._sessions) >= MAX_SESSIONS:
            self.refused += 1
            writer.close()
            return
        self._sessions.add(task)
        try:
            await self._session(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-way: nothing to answer
        except Exception as exc:  # one broken session must not take the listener down
            self.report_error(exc)
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ticket, run = await self._redeem(reader)
        writer.write(HELLO)  # the client discards its first chunk: send it on its own
        await writer.drain()
        if ticket is None or run is None:
            self.refused += 1
            writer.write(b"paas: unknown, expired or already used attach URL\r\n")
            await writer.drain()
            return
        await asyncio.sleep(0.05)  # keep the next bytes out of the discarded chunk
        await run.start(tty=ticket.tty, rows=ticket.rows, cols=ticket.cols)
        await _attach(run, ticket.tty, reader, writer)

    async def _redeem(self, reader: asyncio.StreamReader) -> tuple[Ticket | None, OneOff | None]:
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), SECRET_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None, None
        secret = line.strip().decode("ascii", errors="replace")
        ticket = self.tickets.redeem(secret) if 0 < len(line) <= SECRET_LINE_LIMIT else None
        run = self.dynos.oneoff(ticket.app, ticket.dyno) if ticket is not None else None
        if run is None or run.done:
            return None, None
        return ticket, run


async def _attach(run: OneOff, tty: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pump both ways until the dyno ends (close the connection) or the client leaves (SIGHUP)."""
    loop = asyncio.get_running_loop()
    sender = loop.create_task(_send_output(run, writer))
    receiver = loop.create_task(_receive_input(run, tty, reader))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if receiver.done() and not sender.done():
            await run.client_gone()  # the client left first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sender), 5)
    finally:
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _send_output(run: OneOff, writer: asyncio.StreamWriter) -> None:
    async for _stream, chunk in run.output():
        writer.write(chunk)
        await writer.drain()
    await run.wait()
    with contextlib.suppress(Exception):
        await writer.drain()


async def _receive_input(run: OneOff, tty: bool, reader: asyncio.StreamReader) -> None:
    """Client bytes to the dyno's stdin until the client ends the connection."""
    stdin_open = True
    while True:
        data = await reader.read(65536)
        if not data:
            return
        if not stdin_open:
            continue
        if not tty and EOT in data:
            before = data.split(EOT, 1)[0]
            if before:
                await run.write(before)
            run.close_stdin()
            stdin_open = False
            continue
        await run.write(data)
