"""Dyno faults through the real router of a real daemon: each fault changes the router's log
line the way its definition says (latency → service=, timeout → H12, reset_peer → H13,
limit_data → H18, ...). The lab app (examples/lab) is the dyno."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from paas.lab.routerlog import fields, ms
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

APP = "faulty"
ROUTER_TIMEOUT = 1.5
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonThread]:
    home = tmp_path_factory.mktemp("faults-home")
    d = DaemonThread(
        daemon_settings(home, router_timeout=ROUTER_TIMEOUT, router_idle_timeout=ROUTER_TIMEOUT)
    ).start()
    try:
        with d.client() as c:
            assert c.post("/apps", json={"name": APP}).status_code == 201
        deploy = d.cli("deploy", str(EXAMPLES / "lab"), "-a", APP)
        assert deploy.returncode == 0, deploy.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(d.router_url + "/", headers=host(d), timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield d
    finally:
        d.stop()


@pytest.fixture(autouse=True)
def no_faults(daemon: DaemonThread) -> Iterator[None]:
    with daemon.client() as c:
        c.delete(f"/apps/{APP}/faults")
    yield
    with daemon.client() as c:
        c.delete(f"/apps/{APP}/faults")


def host(d: DaemonThread) -> dict[str, str]:
    return {"Host": f"{APP}.localhost:{d.d.router_port}"}


def add(d: DaemonThread, kind: str, dyno: str = "web.1", **body: Any) -> dict[str, Any]:
    with d.client() as c:
        r = c.post(f"/apps/{APP}/faults", json={"dyno": dyno, "type": kind, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def call(d: DaemonThread, path: str) -> tuple[str, float, dict[str, str]]:
    """GET through the router; returns (client outcome, seconds, the router's log fields)."""
    marker = uuid.uuid4().hex[:12]
    sep = "&" if "?" in path else "?"
    started = time.monotonic()
    try:
        outcome = str(
            httpx.get(f"{d.router_url}{path}{sep}m={marker}", headers=host(d), timeout=15).status_code
        )
    except httpx.RemoteProtocolError:
        outcome = "interrupted"
    elapsed = time.monotonic() - started
    for _ in range(50):
        with d.client() as c:
            lines = c.get(
                f"/apps/{APP}/log-stream", params={"lines": 200, "dyno": "router"}
            ).text.splitlines()
        found = [ln for ln in lines if marker in ln]
        if found:
            return outcome, elapsed, fields(found[-1])
        time.sleep(0.05)
    raise AssertionError(f"no router line for {path}")


def service(line: dict[str, str]) -> int:
    value = ms(line.get("service"))
    assert value is not None, line
    return value


def test_without_faults_the_line_is_clean(daemon: DaemonThread) -> None:
    outcome, _, line = call(daemon, "/")
    assert outcome == "200" and "code" not in line and line["at"] == "info" and line["dyno"] == "web.1"


def test_latency_shows_in_service(daemon: DaemonThread) -> None:
    add(daemon, "latency", attributes={"latency": 400})
    outcome, elapsed, line = call(daemon, "/")
    # the delay is never short by the router's own clock (the relay waits until the loop's
    # clock says so, and the line counts whole milliseconds without float noise); a longer
    # service would have been H12 at router_timeout
    assert outcome == "200" and "code" not in line
    assert service(line) >= 400 and elapsed >= 0.4


def test_latency_on_a_process_type_applies_to_its_dynos(daemon: DaemonThread) -> None:
    add(daemon, "latency", dyno="web", attributes={"latency": 300})
    _, _, line = call(daemon, "/")
    assert service(line) >= 300


def test_timeout_gives_h12(daemon: DaemonThread) -> None:
    add(daemon, "timeout", attributes={"timeout": 0})
    outcome, elapsed, line = call(daemon, "/")
    assert outcome == "503" and line["code"] == "H12" and line["desc"] == "Request timeout"
    assert service(line) >= ROUTER_TIMEOUT * 1000 and line["bytes"] == "0"
    assert elapsed >= ROUTER_TIMEOUT


def test_timeout_that_closes_first_gives_h13(daemon: DaemonThread) -> None:
    add(daemon, "timeout", attributes={"timeout": 300})
    outcome, _, line = call(daemon, "/")
    # H13 (not H12): the fault closed the connection at 300 ms, before router_timeout; its
    # 300 ms run from when the connection opened, so connect + service cover them (each
    # truncated to whole ms)
    assert outcome == "503" and line["code"] == "H13"
    connect = ms(line.get("connect"))
    assert connect is not None and connect + service(line) >= 298


def test_reset_peer_gives_h13(daemon: DaemonThread) -> None:
    add(daemon, "reset_peer", attributes={"timeout": 0})
    outcome, _, line = call(daemon, "/")
    assert outcome == "503" and line["code"] == "H13" and line["desc"] == "Connection closed without response"
    assert line["bytes"] == "0"


def test_reset_peer_mid_response_gives_h18(daemon: DaemonThread) -> None:
    add(daemon, "reset_peer", attributes={"timeout": 300})
    outcome, _, line = call(daemon, "/pause?s=1")  # the head and half the body arrive, then RST
    assert line["code"] == "H18" and line["sock"] == "backend"
    assert outcome == "interrupted" and int(line["bytes"]) > 0


def test_limit_data_gives_h18(daemon: DaemonThread) -> None:
    add(daemon, "limit_data", attributes={"bytes": 1000})
    outcome, _, line = call(daemon, "/bytes?n=5000")
    assert line["code"] == "H18" and line["desc"] == "Server Request Interrupted" and line["bytes"] == "1000"
    assert outcome == "interrupted"


def test_limit_data_zero_gives_h13(daemon: DaemonThread) -> None:
    add(daemon, "limit_data", attributes={"bytes": 0})
    outcome, _, line = call(daemon, "/")
    assert outcome == "503" and line["code"] == "H13"


def test_bandwidth_stretches_service(daemon: DaemonThread) -> None:
    add(daemon, "bandwidth", attributes={"rate": 20})  # 20 KB/s
    outcome, _, line = call(daemon, "/bytes?n=10000")
    assert outcome == "200" and "code" not in line and service(line) >= 400


def test_slow_close_delays_close_delimited_responses_only(daemon: DaemonThread) -> None:
    add(daemon, "slow_close", attributes={"delay": 1000})
    outcome, _, line = call(daemon, "/eof?bytes=100")
    assert outcome == "200" and "code" not in line and service(line) >= 1000
    outcome, _, line = call(daemon, "/")  # Content-Length: the router does not wait for the close
    assert outcome == "200" and service(line) < 1000


def test_faults_are_listed_counted_and_removed(daemon: DaemonThread) -> None:
    add(daemon, "latency", attributes={"latency": 10, "jitter": 5}, name="slow")
    call(daemon, "/")
    with daemon.client() as c:
        listing = c.get(f"/apps/{APP}/faults").json()
        (fault,) = listing["faults"]
        assert fault == {
            "app": APP,
            "dyno": "web.1",
            "name": "slow",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {"latency": 10, "jitter": 5},
            "connections": 1,
        }
        assert c.delete(f"/apps/{APP}/faults/web.1/slow").status_code == 200
        assert c.get(f"/apps/{APP}/faults").json()["faults"] == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"dyno": "web.1", "type": "lag"}, 422, "unknown fault type 'lag'"),
        (
            {"dyno": "web.1", "type": "latency", "attributes": {"rate": 1}},
            422,
            "latency has no attribute 'rate'",
        ),
        ({"dyno": "web.1", "type": "latency", "attributes": {"latency": -5}}, 422, "between 0 and"),
        ({"dyno": "web.1", "type": "latency", "toxicity": 3}, 422, "toxicity must be between 0 and 1"),
        ({"dyno": "worker.1", "type": "latency"}, 422, "has no process type worker"),
        ({"dyno": "web 1", "type": "latency"}, 422, "is not a dyno name"),
        ({"dyno": "web.1", "type": "latency", "bogus": 1}, 422, ""),
    ],
)
def test_bad_input_is_refused_clearly(
    daemon: DaemonThread, body: dict[str, Any], status: int, message: str
) -> None:
    with daemon.client() as c:
        r = c.post(f"/apps/{APP}/faults", json=body)
        assert r.status_code == status, r.text
        assert message in r.text and "Traceback" not in r.text
        assert c.get(f"/apps/{APP}/faults").json()["faults"] == []  # nothing half-written
        assert c.get("/health").status_code == 200


def test_unknown_app_and_fault(daemon: DaemonThread) -> None:
    with daemon.client() as c:
        assert c.get("/apps/nosuchapp/faults").status_code == 404
        r = c.delete(f"/apps/{APP}/faults/web.1/nothing")
        assert r.status_code == 404 and "Couldn't find a fault named nothing" in r.text
        add(daemon, "latency", attributes={"latency": 1})
        r = c.post(f"/apps/{APP}/faults", json={"dyno": "web.1", "type": "latency"})
        assert r.status_code == 422 and "already has a fault named latency" in r.text


def test_cli_round_trip(daemon: DaemonThread) -> None:
    r = daemon.cli("faults:add", "web.1", "latency", "--ms", "250", "--jitter", "10", "-a", APP)
    assert r.returncode == 0, r.stderr
    assert "Adding latency fault to web.1 on ⬢ faulty... done" in r.stderr
    assert "latency=250ms jitter=10ms" in r.stdout
    _, _, line = call(daemon, "/")
    assert service(line) >= 240  # 250 ms ± 10 ms jitter
    r = daemon.cli("faults", "-a", APP)
    assert r.returncode == 0 and "=== faulty Faults" in r.stdout and "latency=250ms" in r.stdout
    r = daemon.cli("faults:add", "web.1", "reset_peer", "-a", APP, "--json")
    assert r.returncode == 0 and '"type": "reset_peer"' in r.stdout
    r = daemon.cli("faults:remove", "web.1", "latency", "-a", APP)
    assert r.returncode == 0 and "Removing fault latency from web.1" in r.stderr
    r = daemon.cli("faults:clear", "-a", APP)
    assert r.returncode == 0 and "done, 1 removed" in r.stderr
    r = daemon.cli("faults", "-a", APP)
    assert "No faults on ⬢ faulty." in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["faults:add", "web.1", "latency"], "latency needs --ms"),
        (["faults:add", "web.1", "latency", "--ms", "5", "--rate", "3"], "--rate does not apply to latency"),
        (["faults:add", "web.1", "bandwidth"], "bandwidth needs --rate"),
        (["faults:add", "web.1", "teleport"], "Invalid value"),
        (["faults:add", "nope.1", "timeout"], "has no process type nope"),
        (["faults:remove", "web.1", "ghost"], "Couldn't find a fault named ghost"),
    ],
)
def test_cli_errors(daemon: DaemonThread, args: list[str], message: str) -> None:
    r = daemon.cli(*args, "-a", APP)
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr
