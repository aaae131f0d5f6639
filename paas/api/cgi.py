"""Run a CGI program for one request (`git http-backend`): the request body goes to its stdin
while its stdout (headers, then the body) streams back as it is produced — git's sideband
progress included. A client gone mid-response kills the program at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

STDERR_LIMIT = 16 * 1024
CGI_EXIT_GRACE = 10.0  # after its last byte, the program gets this long to exit on its own
CHUNK = 65536


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status, headers) of a CGI response head; `Status:` sets the status (200 without one)."""
    status, headers = 200, {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name.strip().lower() == "status":
            with contextlib.suppress(ValueError, IndexError):
                status = int(value.strip().split()[0])
        else:
            headers[name.strip()] = value.strip()
    return status, headers


class CgiRun:
    def __init__(self, proc: asyncio.subprocess.Process, request: Request) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.stdout = proc.stdout
        self.errors = bytearray()  # the first STDERR_LIMIT bytes of its stderr
        self._feeder = asyncio.create_task(self._feed(request, proc.stdin))
        self._stderr = asyncio.create_task(self._collect(proc.stderr))

    @classmethod
    async def start(cls, request: Request, argv: list[str], env: dict[str, str]) -> CgiRun:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        return cls(proc, request)

    async def _feed(self, request: Request, stdin: asyncio.StreamWriter) -> None:
        try:
            async for chunk in request.stream():
                if chunk:
                    stdin.write(chunk)
                    await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with contextlib.suppress(Exception):
                stdin.close()

    async def _collect(self, stderr: asyncio.StreamReader) -> None:
        while chunk := await stderr.read(4096):
            if len(self.errors) < STDERR_LIMIT:
                self.errors.extend(chunk[: STDERR_LIMIT - len(self.errors)])

    async def head(self) -> bytes | None:
        """The response head, or None when the program ended (or rambled) without one."""
        try:
            return await self.stdout.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None

    async def body(self) -> AsyncIterator[bytes]:
        completed = False
        try:
            while chunk := await self.stdout.read(CHUNK):
                yield chunk
            completed = True
        finally:
            await self.finish(completed)

    async def finish(self, completed: bool) -> None:
        """completed: the response was read to its end, so the program is finishing on its own."""
        if completed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), CGI_EXIT_GRACE)
        with contextlib.suppress(ProcessLookupError):
            if self.proc.returncode is None:
                self.proc.kill()
        self._feeder.cancel()
        await self.proc.wait()
        with contextlib.suppress(Exception):
            await self._stderr


async def run_cgi(request: Request, argv: list[str], env: dict[str, str], name: str) -> Response:
    run = await CgiRun.start(request, argv, env)
    head = await run.head()
    if head is None:
        await run.finish(completed=True)
        message = run.errors.decode(errors="replace").strip() or f"{name} produced no response"
        return Response(message + "\n", status_code=500, media_type="text/plain")
    status, headers = parse_head(head)
    media_type = headers.pop("Content-Type", None)
    return StreamingResponse(run.body(), status_code=status, headers=headers, media_type=media_type)
