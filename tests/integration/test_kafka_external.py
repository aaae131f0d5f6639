"""PAAS_KAFKA_URL: the Kafka add-on on a cluster paas does not run, through its Admin API only.

No Apache Kafka can be reached here, so the "external" cluster is a second broker started as its
own process (`python -m tests.support.kafka_broker`): the daemon knows nothing of it but its
address and an admin principal's SCRAM credentials, exactly what it would know of Apache Kafka.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.kafka_interop import REPO

pytestmark = pytest.mark.kafka


@pytest.fixture
def external(tmp_path: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.kafka_broker",
            "--home",
            str(tmp_path / "external"),
            "--tenant",
            "",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the external broker did not start"
    try:
        yield json.loads(line)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def _sasl(bootstrap: str, user: str, password: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
        **extra,
    }


def test_the_addon_lives_on_an_external_cluster(external: dict[str, Any], paas_home: Path) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

    url = f"kafka://127.0.0.1:{external['port']}"
    settings = daemon_settings(
        paas_home,
        kafka_url=url,
        kafka_sasl_username=external["admin"]["username"],
        kafka_sasl_password=external["admin"]["password"],
        kafka_group_initial_rebalance_delay=0.1,
    )
    daemon = DaemonThread(settings).start()
    try:
        kafka = daemon.d.kafka
        assert kafka.embedded is None and kafka.port == 0  # the embedded broker was not started
        assert not (paas_home / "kafka" / "registry.json").exists()
        c = daemon.client()
        assert c.post("/apps", json={"name": "far"}).status_code == 201
        r = c.post("/apps/far/addons", json={"plan": "heroku-kafka:basic-0"})
        assert r.status_code == 201, r.text
        config = c.get("/apps/far/config-vars").json()
        assert (
            config["KAFKA_URL"] == url
            and config["KAFKA_SASL_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{external['port']}"
        )
        assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512" and "KAFKA_CLIENT_CERT" not in config
        prefix, user, password = (
            config["KAFKA_PREFIX"],
            config["KAFKA_SASL_USERNAME"],
            config["KAFKA_SASL_PASSWORD"],
        )
        assert daemon.cli("kafka:topics:create", "events", "--partitions", "2", "-a", "far").returncode == 0
        assert daemon.cli("kafka:consumer-groups:create", "readers", "-a", "far").returncode == 0
        listed = c.get("/apps/far/kafka/KAFKA/topics").json()
        assert [t["name"] for t in listed["topics"]] == [f"{prefix}events"]
        assert listed["topics"][0]["partition_count"] == 2

        bootstrap = f"127.0.0.1:{external['port']}"
        admin = AdminClient(_sasl(bootstrap, external["admin"]["username"], external["admin"]["password"]))
        assert f"{prefix}events" in admin.list_topics(timeout=10).topics  # it is on the external cluster
        p = Producer(_sasl(bootstrap, user, password))
        for i in range(5):
            p.produce(f"{prefix}events", b"far %d" % i)
        assert p.flush(20) == 0
        consumer = Consumer(
            _sasl(
                bootstrap, user, password, **{"group.id": f"{prefix}readers", "auto.offset.reset": "earliest"}
            )
        )
        consumer.subscribe([f"{prefix}events"])
        got: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value() or b"")
        consumer.close()
        assert sorted(got) == [b"far %d" % i for i in range(5)]

        # removing the add-on removes the tenant from the external cluster: topics, ACLs, user
        r = c.delete(f"/apps/far/addons/{r.json()['name']}")
        assert r.status_code == 200, r.text
        assert f"{prefix}events" not in admin.list_topics(timeout=10).topics
        users: Any = admin.describe_user_scram_credentials()  # one future when no user is named
        assert users.result(10) == {}
    finally:
        daemon.stop()


def test_a_wrong_admin_password_stops_the_daemon_at_start(external: dict[str, Any], paas_home: Path) -> None:
    from common.errors import StartupError

    settings = daemon_settings(
        paas_home,
        kafka_url=f"kafka://127.0.0.1:{external['port']}",
        kafka_sasl_username=external["admin"]["username"],
        kafka_sasl_password="not-the-password",
    )
    with pytest.raises(StartupError, match="PAAS_KAFKA_URL"):
        DaemonThread(settings).start()
