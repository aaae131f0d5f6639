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
If the client goes away first the dyno gets SIGHUP (and R16 + SIGKILL if it ignores it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
    if isinstance(value, int) or str(value).isdigit():
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
        secret = svc.attach.issue(name, run.name)
        attach_url = f"{svc.api_url.replace('http://', 'ws://', 1)}/attach/{secret}"
    return dyno_json(run.info(), attach_url)


@router.websocket("/attach/{secret}")
async def attach(ws: WebSocket, svc: Svc, secret: str) -> None:
    ticket = svc.attach.redeem(secret)
    run: OneOff | None = svc.dynos.oneoff(ticket.app, ticket.dyno) if ticket else None
    if run is None or run.done:
        await ws.close(code=1008, reason="unknown or used attach URL")
        return
    await ws.accept()
    try:
        start = await asyncio.wait_for(ws.receive_json(), START_MESSAGE_TIMEOUT)
    except (TimeoutError, WebSocketDisconnect, ValueError, KeyError):
        await run.client_gone()
        return
    rows, cols = int(start.get("rows") or 24), int(start.get("cols") or 80)
    await run.start(tty=bool(start.get("tty")), rows=max(1, rows), cols=max(1, cols))
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
            data = message.get("bytes")
            if data:
                await run.write(data)
                continue
            text = message.get("text")
            if not text:
                continue
            try:
                control = json.loads(text)
            except ValueError:
                continue
            kind = control.get("type")
            if kind == "stdin_eof":
                run.close_stdin()
            elif kind == "resize":
                run.resize(max(1, int(control.get("rows", 24))), max(1, int(control.get("cols", 80))))
            elif kind == "signal":
                with contextlib.suppress(PaasError):
                    run.signal(parse_signal(control.get("signal", "INT")))
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
