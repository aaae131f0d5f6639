"""The dyno API on a whole in-process daemon: shapes, errors, the attach WebSocket, and the
router table losing a dyno before the dyno is signalled."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from common.events import Event
from tests.e2e.test_dynos_cli import WEB, all_up, deploy, wait_dynos
from tests.support.daemon import DaemonThread


def ws_url(daemon: DaemonThread, run: dict[str, Any]) -> str:
    """The WebSocket door of a one-off whose `attach_url` is Heroku's rendezvous URL: the
    same secret opens `/attach/<secret>`."""
    secret = str(run["attach_url"]).rsplit("/", 1)[-1]
    return f"ws://127.0.0.1:{daemon.d.api_port}/attach/{secret}"


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
    assert run["attach_url"].startswith(f"rendezvous://127.0.0.1:{daemon.d.rendezvous.port}/")
    url = ws_url(daemon, run)
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


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (
            '{"rows":"abc"}',
            "invalid start message: type: Field required; rows: Input should be a valid integer",
        ),
        (
            '{"type": "start", "rows": 0}',
            "invalid start message: rows: Input should be greater than or equal to 1",
        ),
        ('{"type": "start", "tty": "yes"}', "invalid start message: tty: Input should be a valid boolean"),
        ("[1, 2]", "invalid start message: Input should be an object"),
        ("not json", "invalid start message: Invalid JSON"),
        (b"\x00binary", 'the first message must be the start message, as JSON text: {"type": "start", ...}'),
    ],
)
def test_bad_start_message_is_answered_and_the_dyno_cleaned_up(
    daemon: DaemonThread, tmp_path: Path, first: str | bytes, message: str
) -> None:
    deploy(daemon, "badstart", tmp_path, {"web": WEB})
    c = daemon.client()
    run = c.post("/apps/badstart/dynos", json={"command": "sleep 60", "attach": True}).json()
    with connect(ws_url(daemon, run)) as ws:
        ws.send(first)
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "error" and answer["message"].startswith(message), answer
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # never started, and not left `starting`: the dyno is over
    assert run["name"] not in [d["name"] for d in c.get("/apps/badstart/dynos").json()]
    log = c.get("/apps/badstart/log-stream", params={"lines": 100}).text
    assert f"heroku[{run['name']}]: Error R13 (Attach error) -> Failed to attach to process" in log
    assert f"heroku[{run['name']}]: State changed from starting to crashed" in log
    assert f"heroku[{run['name']}]: Starting process" not in log


def test_bad_messages_after_start_are_answered_and_the_session_goes_on(
    daemon: DaemonThread, tmp_path: Path
) -> None:
    deploy(daemon, "badmsg", tmp_path, {"web": WEB})
    run = daemon.client().post("/apps/badmsg/dynos", json={"command": "cat", "attach": True}).json()
    with connect(ws_url(daemon, run)) as ws:
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "up"
        answers = []
        for bad in (
            {"type": "resize", "rows": "abc", "cols": 80},
            {"type": "signal", "signal": "SIGNOPE"},
            {"type": "dance"},
            {"type": "stdin_eof", "extra": 1},
        ):
            ws.send(json.dumps(bad))
            answers.append(json.loads(ws.recv(timeout=10)))
        assert answers == [
            {"type": "error", "message": "invalid message: resize.rows: Input should be a valid integer"},
            {"type": "error", "message": "Unknown signal 'SIGNOPE'."},
            {
                "type": "error",
                "message": "invalid message: Input tag 'dance' found using 'type' does not match any of the "
                "expected tags: 'stdin_eof', 'resize', 'signal'",
            },
            {"type": "error", "message": "invalid message: stdin_eof.extra: Extra inputs are not permitted"},
        ]
        ws.send(b"still here\n")
        ws.send(json.dumps({"type": "stdin_eof"}))
        out, status = b"", None
        while status is None:
            frame = ws.recv(timeout=10)
            if isinstance(frame, bytes):
                out += frame[1:]
            else:
                status = json.loads(frame)["status"]
    assert (out, status) == (b"still here\n", 0)


def test_client_leaving_sends_sighup(daemon: DaemonThread, tmp_path: Path) -> None:
    deploy(daemon, "hupapp", tmp_path, {"web": WEB})
    run = daemon.client().post("/apps/hupapp/dynos", json={"command": "sleep 60", "attach": True}).json()
    with connect(ws_url(daemon, run)) as ws:
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
