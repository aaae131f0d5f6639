"""Loopback only: every socket a daemon listens on (API, router, Kafka plain and TLS, the
embedded PostgreSQL) is bound to 127.0.0.1, never to all interfaces. (Dynos: see
`test_dynos_network.py`.)

Nothing is sent anywhere: the test reads the machine's own socket table (as `ss -ltn` does).
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from pathlib import Path

import psutil
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.require import require

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _listeners(pids: set[int]) -> list[tuple[int, str, int]]:
    return [
        (c.pid or 0, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


def _postmaster(home: Path) -> int:
    pid_file = home / "postgres" / "data" / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0])


def test_every_listening_socket_of_a_used_daemon_is_on_loopback(paas_home: Path) -> None:
    require(psutil.LINUX, "the socket table is read from /proc (Linux)")
    d = DaemonThread(daemon_settings(paas_home)).start()
    try:
        c = d.client(timeout=120)
        assert c.post("/apps", json={"name": "loop"}).status_code == 201
        assert c.post("/apps/loop/addons", json={"plan": "heroku-postgresql"}).status_code == 201
        assert c.post("/apps/loop/addons", json={"plan": "heroku-kafka"}).status_code == 201
        mine = {os.getpid(), _postmaster(paas_home)}
        mine |= {p.pid for pid in list(mine) for p in psutil.Process(pid).children(recursive=True)}
        deadline = time.monotonic() + 30
        while True:
            found = _listeners(mine)
            ports = {port for _pid, _ip, port in found}
            kafka = d.d.kafka
            wanted = {
                d.d.api_port,
                d.d.api_tls_port,
                d.d.rendezvous.port,
                d.d.router_port,
                kafka.port,
                kafka.tls_port,
            }
            wanted.add(json.loads((paas_home / "postgres" / "cluster.json").read_text())["port"])
            if wanted <= ports or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert wanted <= ports, (wanted, found)
        beyond = [(pid, ip, port) for pid, ip, port in found if not ipaddress.ip_address(ip).is_loopback]
        assert beyond == []
    finally:
        d.stop()
