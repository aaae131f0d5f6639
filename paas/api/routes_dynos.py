"""Dynos: list, info, one-off runs (with a WebSocket attach), restart, stop, kill.

Platform API shapes: `GET /apps/{app}/dynos[/{dyno}]`, `POST /apps/{app}/dynos`
(`{command, attach, env, size, time_to_live}`), restart = `DELETE /apps/{app}/dynos[/{dyno_or_type}]`,
stop = `POST /apps/{app}/dynos/{dyno}/actions/stop` (and `/formations/{type}/actions/stop`),
plus the paas extension `POST /apps/{app}/dynos/{dyno}/actions/kill {signal}` to crash a dyno.

Attaching (`attach: true`) returns `attach_url` = `ws://127.0.0.1:<api port>/attach/<secret>`;
the secret is single-use and is the credential (Heroku's rendezvous URL works the same way).
The WebSocket protocol:
  client → server  text  {"type": "start", "tty": bool, "rows": int, "cols": int}   (first message)
                   binary  stdin bytes
                   text  {"type": "stdin_eof"} | {"type": "resize", "rows", "cols"} | {"type": "signal", "signal": "INT"}
  server → client  text  {"type": "up", "name": "run.1234"}
                   binary  one byte stream id (1 = stdout, 2 = stderr) + output bytes
                   text  {"type": "exit", "status": N}, then close
                   text  {"type": "error", "message": "..."} for a message that is not valid
                         (paas/api/attach_messages.py); after a bad start message the socket
                         closes (1008) and the dyno ends with R13, never having started
If the client goes away first the dyno gets SIGHUP (and R16 + SIGKILL if it ignores it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict
from starlette.websockets import WebSocketDisconnect

from common.errors import PaasError, invalid
from dynos.oneoff import OneOff
from dynos.sizes import get_size
from dynos.types import DynoInfo
from paas.api.attach_messages import BadMessage, Resize, Start, StdinEof, parse_control, parse_start
from paas.api.deps import Services, Svc

router = APIRouter()

START_MESSAGE_TIMEOUT = 30.0


class OneOffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str
    attach: bool = False
    env: dict[str, str] | None = None
    size: str | None = None
    type: str | None = None  # accepted for API compatibility; one-offs are always `run`
    time_to_live: float | None = None
    force_no_tty: bool | None = None


class KillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signal: str | int = "SIGKILL"


def size_label(name: str) -> str:
    """standard-1x → Standard-1X, performance-m → Performance-M, eco → Eco (Heroku's spelling)."""
    return "-".join(
        part.upper() if any(c.isdigit() for c in part) or len(part) == 1 else part.capitalize()
        for part in name.split("-")
    )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dyno_json(info: DynoInfo, attach_url: str | None = None) -> dict[str, Any]:
    try:
        quota = get_size(info.size).quota_bytes
    except ValueError:
        quota = 0
    return {
        "id": f"{info.app}.{info.name}",
        "name": info.name,
        "type": info.type,
        "command": info.command,
        "size": size_label(info.size),
        "state": info.state,
        "release": {"version": info.release},
        "app": {"name": info.app},
        "attach_url": attach_url,
        "created_at": iso(info.since),
        "updated_at": iso(info.since),
        # paas extensions
        "since": iso(info.since),
        "memory": info.memory_bytes,
        "memory_quota": quota,
        "port": info.port,
        "host": info.host,
        "pid": info.pid,
        "container": info.container,
        "restarts": info.restarts,
    }


def _app_name(svc: Services, app: str) -> str:
    return svc.control.get_app(app).name  # 404 for an unknown app


def parse_signal(value: str | int) -> int:
    if isinstance(value, int) or re.fullmatch(r"[0-9]{1,3}", str(value)):
        number = int(value)
        try:
            return int(signal.Signals(number))
        except ValueError:
            raise invalid(f"Unknown signal {value!r}.") from None
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise invalid(f"Unknown signal {value!r}.") from None


# ---- listing -----------------------------------------------------------------------------
@router.get("/apps/{app}/dynos")
async def list_dynos(svc: Svc, app: str) -> list[dict[str, Any]]:
    name = _app_name(svc, app)
    return [dyno_json(d) for d in svc.dynos.dynos(name)]


@router.get("/apps/{app}/dynos/{dyno}")
async def get_dyno(svc: Svc, app: str, dyno: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return dyno_json(svc.dynos.dyno(name, dyno))


# ---- one-off runs ------------------------------------------------------------------------
@router.post("/apps/{app}/dynos", status_code=201)
async def create_dyno(svc: Svc, app: str, body: OneOffCreate) -> dict[str, Any]:
    name = _app_name(svc, app)
    desired = svc.control.desired(name)
    run: OneOff = await svc.dynos.run_oneoff(
        desired,
        body.command,
        attach=body.attach,
        env=body.env,
        size=body.size or "standard-1x",
        time_to_live=body.time_to_live,
    )
    attach_url = None
    if body.attach:
        env = body.env or {}
        tty = not body.force_no_tty
        secret = svc.attach.issue(
            name, run.name, tty, _dimension(env.get("LINES"), 24), _dimension(env.get("COLUMNS"), 80)
        )
        # Heroku's rendezvous URL; the same secret also opens `/attach/<secret>` (WebSocket)
        attach_url = svc.rendezvous.url(secret)
    return dyno_json(run.info(), attach_url)


def _dimension(value: str | None, default: int) -> int:
    """A terminal size the CLI sent as an env var (COLUMNS, LINES), within reason."""
    if value is not None and value.isascii() and value.isdigit() and 0 < int(value) <= 1000:
        return int(value)
    return default


@router.websocket("/attach/{secret}")
async def attach(ws: WebSocket, svc: Svc, secret: str) -> None:
    ticket = svc.attach.redeem(secret)
    run: OneOff | None = svc.dynos.oneoff(ticket.app, ticket.dyno) if ticket else None
    if run is None or run.done:
        await ws.close(code=1008, reason="unknown or used attach URL")
        return
    await ws.accept()
    start = await _receive_start(ws, run)
    if start is None:
        return
    await run.start(tty=start.tty, rows=start.rows, cols=start.cols)
    await ws.send_json({"type": "up", "name": run.name})
    sender = asyncio.get_running_loop().create_task(_send_output(ws, run))
    try:
        await _receive_input(ws, run, sender)
    finally:
        if not sender.done():
            if not run.done:
                await run.client_gone()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _receive_start(ws: WebSocket, run: OneOff) -> Start | None:
    """The client's first message; None when there is none to start with (the dyno is over)."""
    try:
        message = await asyncio.wait_for(ws.receive(), START_MESSAGE_TIMEOUT)
    except (TimeoutError, WebSocketDisconnect, RuntimeError):
        await run.client_gone()
        return None
    if message["type"] == "websocket.disconnect":
        await run.client_gone()
        return None
    try:
        return parse_start(message.get("text"))
    except BadMessage as exc:
        run.attach_failed()  # never started: R13, and run.N is gone
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await ws.send_json({"type": "error", "message": str(exc)})
            await ws.close(code=1008, reason="invalid start message")
        return None


async def _send_output(ws: WebSocket, run: OneOff) -> None:
    async for stream, chunk in run.output():
        await ws.send_bytes(bytes([2 if stream == "stderr" else 1]) + chunk)
    status = await run.wait()
    await ws.send_json({"type": "exit", "status": status})
    await ws.close(code=1000)


async def _receive_input(ws: WebSocket, run: OneOff, sender: asyncio.Task[None]) -> None:
    """Client → dyno until the client leaves or the dyno is over."""
    receive: asyncio.Task[Any] | None = None
    try:
        while not sender.done():
            receive = asyncio.get_running_loop().create_task(ws.receive())
            await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                break  # the dyno is over; the sender closed the socket
            message = receive.result()
            receive = None
            if message["type"] == "websocket.disconnect":
                return
            await _handle_input(ws, run, message)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        if receive is not None and not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
        if sender.done():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _handle_input(ws: WebSocket, run: OneOff, message: dict[str, Any]) -> None:
    """stdin bytes, or a control message; a bad one is answered, and the session goes on."""
    data = message.get("bytes")
    if data is not None:
        await run.write(data)
        return
    try:
        control = parse_control(message.get("text") or "")
        if isinstance(control, StdinEof):
            run.close_stdin()
        elif isinstance(control, Resize):
            run.resize(control.rows, control.cols)
        else:
            run.signal(parse_signal(control.signal))
    except (BadMessage, PaasError) as exc:
        await ws.send_json({"type": "error", "message": _error_text(exc)})


def _error_text(exc: Exception) -> str:
    return exc.message if isinstance(exc, PaasError) else str(exc)


# ---- restart / stop / kill ---------------------------------------------------------------
@router.delete("/apps/{app}/dynos", status_code=202)
async def restart_all(svc: Svc, app: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return {"restarted": await svc.dynos.restart(name, None)}


@router.delete("/apps/{app}/dynos/{dyno}", status_code=202)
async def restart_dyno(svc: Svc, app: str, dyno: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return {"restarted": await svc.dynos.restart(name, dyno)}


@router.delete("/apps/{app}/formations/{ptype}", status_code=202)
async def restart_type(svc: Svc, app: str, ptype: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return {"restarted": await svc.dynos.restart(name, ptype)}


@router.post("/apps/{app}/dynos/{dyno}/actions/stop", status_code=202)
async def stop_dyno(svc: Svc, app: str, dyno: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return {"stopped": await svc.dynos.stop(name, dyno)}


@router.post("/apps/{app}/formations/{ptype}/actions/stop", status_code=202)
async def stop_type(svc: Svc, app: str, ptype: str) -> dict[str, Any]:
    name = _app_name(svc, app)
    return {"stopped": await svc.dynos.stop(name, ptype)}


@router.post("/apps/{app}/dynos/{dyno}/actions/kill", status_code=202)
async def kill_dyno(svc: Svc, app: str, dyno: str, body: KillBody | None = None) -> dict[str, Any]:
    name = _app_name(svc, app)
    sig = parse_signal((body or KillBody()).signal)
    await svc.dynos.kill(name, dyno, sig)
    return {"killed": dyno, "signal": signal.Signals(sig).name}
