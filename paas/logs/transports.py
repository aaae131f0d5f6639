"""How a drain's lines leave: a syslog TCP (or TLS) stream, or Logplex's HTTPS POSTs.

Each transport sends what the buffer holds and raises `DrainFailed` when the receiver is
gone, refuses, stalls or answers with an error; the drain's sender then backs off and tries
again. An HTTP batch keeps its `Logplex-Frame-Id` across retries (receivers can drop
duplicates) and is given up after `HTTP_ATTEMPTS`, its lines counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from typing import Protocol

import httpx

from paas.logs.buffer import DrainBuffer
from paas.logs.framing import frame
from paas.logs.target import DrainTarget

SYSLOG_BATCH = 256  # frames per write
HTTP_BATCH = 500  # messages per POST
HTTP_ATTEMPTS = 5
WRITE_TIMEOUT = 10.0  # a receiver that reads nothing this long is stalled: reconnect
CONNECT_TIMEOUT = 5.0
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=CONNECT_TIMEOUT)
USER_AGENT = "Logplex/paas"


class DrainFailed(Exception):
    """Why the last attempt failed, worded for `paas drains --json` (no credentials)."""


class Transport(Protocol):
    @property
    def pending(self) -> bool: ...  # a batch taken from the buffer waits for its retry

    async def send(self, buffer: DrainBuffer) -> None: ...

    async def close(self) -> None: ...


class SyslogTransport:
    """RFC 6587 octet-counted frames over one kept TCP (or TLS) connection."""

    def __init__(self, target: DrainTarget, token: str, tls: ssl.SSLContext | None):
        self.target = target
        self.token = token
        self.tls = tls
        self._writer: asyncio.StreamWriter | None = None

    @property
    def pending(self) -> bool:
        return False  # frames written to a broken connection are lost (counted), not retried

    async def _connect(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        target = self.target
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    target.host,
                    target.port,
                    ssl=self.tls,
                    server_hostname=target.host if self.tls else None,
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError:
            raise DrainFailed(f"connecting to {target.shown} timed out") from None
        except ssl.SSLError as exc:
            raise DrainFailed(f"TLS with {target.shown} failed: {exc.reason}") from None
        except (OSError, ValueError) as exc:  # ValueError: a host name that cannot be encoded
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise DrainFailed(f"cannot connect to {target.shown}: {reason}") from None
        self._writer = writer
        return writer

    async def send(self, buffer: DrainBuffer) -> None:
        writer = await self._connect()
        batch = buffer.take(SYSLOG_BATCH)
        if not batch:
            return
        writer.write(b"".join(frame(line, self.token) for line in batch))
        try:
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        except TimeoutError:
            await self.close()
            buffer.drop(len(batch))
            raise DrainFailed(f"{self.target.shown} stopped reading") from None
        except OSError as exc:
            await self.close()
            buffer.drop(len(batch))
            raise DrainFailed(f"{self.target.shown} closed the connection: {exc.strerror or exc}") from None
        buffer.sent += len(batch)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class HttpTransport:
    """Logplex's HTTPS drain: batches of frames POSTed as `application/logplex-1`."""

    def __init__(self, target: DrainTarget, token: str, tls: ssl.SSLContext | None):
        self.target = target
        self.token = token
        self._client = httpx.AsyncClient(
            verify=tls if tls is not None else True, timeout=HTTP_TIMEOUT, follow_redirects=False
        )
        self._pending: tuple[str, list[bytes]] | None = None  # frame id, frames: being retried
        self._attempts = 0

    @property
    def pending(self) -> bool:
        return self._pending is not None

    async def send(self, buffer: DrainBuffer) -> None:
        if self._pending is None:
            batch = buffer.take(HTTP_BATCH)
            if not batch:
                return
            self._pending = (uuid.uuid4().hex, [frame(line, self.token) for line in batch])
            self._attempts = 0
        frame_id, frames = self._pending
        self._attempts += 1
        try:
            await self._post(frame_id, frames)
        except DrainFailed:
            if self._attempts >= HTTP_ATTEMPTS:
                self._pending = None
                buffer.drop(len(frames))
            raise
        self._pending = None
        buffer.sent += len(frames)

    async def _post(self, frame_id: str, frames: list[bytes]) -> None:
        headers = {
            "Content-Type": "application/logplex-1",
            "Logplex-Msg-Count": str(len(frames)),
            "Logplex-Frame-Id": frame_id,
            "Logplex-Drain-Token": self.token,
            "User-Agent": USER_AGENT,
        }
        try:
            response = await self._client.post(self.target.url, content=b"".join(frames), headers=headers)
        except httpx.TimeoutException:
            raise DrainFailed(f"{self.target.shown} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise DrainFailed(f"cannot POST to {self.target.shown}: {exc.__class__.__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DrainFailed(f"{self.target.shown} answered {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
