"""The dyno API on a whole in-process daemon: shapes, errors, the attach WebSocket, and the
router table losing a dyno before the dyno is signalled."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from common.events import Event
from tests.e2e.test_dynos_cli import WEB, all_up, deploy, wait_dynos
from tests.support.daemon import DaemonThread


def test_dyno_resources_and_errors(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "apiapp", tmp_path, {"web": WEB})
    c = daemon.client()
    dynos = wait_dynos(daemon, "apiapp", all_up(1))
    web = dynos[0]
    assert web["name"] == "web.1" and web["type"] == "web" and web["state"] == "up"
    assert web["release"] == {"version": 3} and web["size"] == "Standard-1X" and web["attach_url"] is None
    assert web["memory_quota"] == 512 * 1024 * 1024 and web["host"] == "127.0.0.1"
    assert c.get("/apps/apiapp/dynos/web.1").json()["port"] == web["port"]

    assert c.get("/apps/nope/dynos").json() == {"id": "not_found", "message": "Couldn't find that app."}
    missing = c.get("/apps/apiapp/dynos/web.7")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Couldn't find that dyno or process type (web.7) on apiapp."
    assert c.delete("/apps/apiapp/dynos/worker").status_code == 404
    bad = c.post("/apps/apiapp/dynos", json={"command": "ls", "size": "jumbo"})
    assert bad.status_code == 422 and "Unknown dyno size 'jumbo'" in bad.json()["message"]
    assert c.post("/apps/apiapp/dynos", json={"command": ""}).status_code == 422
    assert c.post("/apps/apiapp/dynos", json={"nope": 1}).status_code == 422
    assert c.post("/apps/apiapp/dynos/web.1/actions/kill", json={"signal": "SIGNOPE"}).status_code == 422

    r = c.delete("/apps/apiapp/dynos/web")
    assert r.status_code == 202 and r.json() == {"restarted": ["web.1"]}
    wait_dynos(daemon, "apiapp", lambda ds: ds and ds[0]["port"] != web["port"] and ds[0]["state"] == "up")
    r = c.post("/apps/apiapp/dynos/web.1/actions/kill", json={"signal": "TERM"})
    assert r.status_code == 202 and r.json() == {"killed": "web.1", "signal": "SIGTERM"}
    r = c.post("/apps/apiapp/formations/web/actions/stop")
    assert r.status_code == 202 and r.json() == {"stopped": ["web.1"]}
    wait_dynos(daemon, "apiapp", all_up(1))
    assert c.delete("/apps/apiapp/dynos").json() == {"restarted": ["web.1"]}


def test_attach_websocket(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "wsapp", tmp_path, {"web": WEB})
    c = daemon.client()
    run = c.post("/apps/wsapp/dynos", json={"command": "cat; echo bye >&2; exit 4", "attach": True}).json()
    assert run["type"] == "run" and run["state"] == "starting"
    url = run["attach_url"]
    assert url.startswith(f"ws://127.0.0.1:{daemon.d.api_port}/attach/")
    out, err, status = b"", b"", None
    with connect(url) as ws:
        ws.send(json.dumps({"type": "start", "tty": False, "rows": 24, "cols": 80}))
        assert json.loads(ws.recv()) == {"type": "up", "name": run["name"]}
        ws.send(b"ping\n")
        ws.send(json.dumps({"type": "stdin_eof"}))
        while status is None:
            message = ws.recv(timeout=10)
            if isinstance(message, bytes):
                if message[:1] == b"\x01":
                    out += message[1:]
                else:
                    err += message[1:]
            else:
                status = json.loads(message)["status"]
    assert (out, err, status) == (b"ping\n", b"bye\n", 4)
    with pytest.raises(InvalidStatus), connect(url):
        pass  # single use
    with pytest.raises(InvalidStatus), connect(url.rsplit("/", 1)[0] + "/not-a-secret"):
        pass


def test_client_leaving_sends_sighup(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "hupapp", tmp_path, {"web": WEB})
    run = daemon.client().post("/apps/hupapp/dynos", json={"command": "sleep 60", "attach": True}).json()
    with connect(run["attach_url"]) as ws:
        ws.send(json.dumps({"type": "start", "tty": False}))
        ws.recv()
    wait_dynos(daemon, "hupapp", lambda ds: not any(d["type"] == "run" for d in ds))
    log = daemon.client().get("/apps/hupapp/log-stream", params={"lines": 100}).text
    assert f"heroku[{run['name']}]: Client connection closed. Sending SIGHUP to all processes" in log
    assert f"heroku[{run['name']}]: Process exited with status 129" in log


def test_router_table_drops_a_dyno_before_it_gets_sigterm(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "rtapp", tmp_path, {"web": WEB})
    c = daemon.client()
    c.patch("/apps/rtapp/formation", json={"updates": [{"type": "web", "quantity": 2}]})
    wait_dynos(daemon, "rtapp", all_up(2))
    deadline = time.monotonic() + 5
    while len(getattr(daemon.d.route_table.get("rtapp"), "backends", ())) != 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    seen: list[dict[str, Any]] = []

    def on_state(event: Event) -> None:
        if event.app == "rtapp" and event.data["dyno"] == "web.2" and event.data["state"] == "stopping":
            route = daemon.d.route_table.get("rtapp")
            assert route is not None
            lines = [line.text for line in daemon.d.logs.recent("rtapp", 1500, dyno="web.2")]
            seen.append(
                {
                    "backends": [b.dyno for b in route.backends],
                    "signalled": "got SIGTERM" in lines or "Stopping all processes with SIGTERM" in lines,
                }
            )

    async def listen() -> Any:
        return daemon.d.bus.listen(["dyno.state"], on_state)

    unlisten = daemon.call(listen)
    try:
        c.patch("/apps/rtapp/formation", json={"updates": [{"type": "web", "quantity": 1}]})
        wait_dynos(daemon, "rtapp", all_up(1))
    finally:

        async def stop() -> None:
            unlisten()

        daemon.call(stop)
    assert seen == [{"backends": ["web.1"], "signalled": False}]
