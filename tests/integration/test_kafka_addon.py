"""heroku-kafka through the whole daemon: add-on config vars, the data API, the kafka:* CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def daemon(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, kafka_group_initial_rebalance_delay=0.1)).start()
    try:
        yield d
    finally:
        d.stop()


def _kafka_app(daemon: DaemonThread, app: str, plan: str = "basic-0") -> dict:  # type: ignore[type-arg]
    c = daemon.client()
    assert c.post("/apps", json={"name": app}).status_code == 201
    r = c.post(f"/apps/{app}/addons", json={"plan": f"heroku-kafka:{plan}"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_addon_sets_heroku_config_vars_and_a_working_tls_client(daemon: DaemonThread) -> None:
    from confluent_kafka import Consumer, Producer

    addon = _kafka_app(daemon, "stream")
    assert addon["name"].startswith("kafka-") and addon["attachment"] == "KAFKA"
    config = daemon.client().get("/apps/stream/config-vars").json()
    for var in (
        "KAFKA_URL",
        "KAFKA_PREFIX",
        "KAFKA_TRUSTED_CERT",
        "KAFKA_CLIENT_CERT",
        "KAFKA_CLIENT_CERT_KEY",
    ):
        assert config.get(var), var
    assert config["KAFKA_URL"] == f"kafka+ssl://127.0.0.1:{daemon.d.kafka.tls_port}"
    assert config["KAFKA_TRUSTED_CERT"].startswith("-----BEGIN CERTIFICATE-----")
    prefix = config["KAFKA_PREFIX"]
    assert prefix.endswith(".") and addon["name"].removeprefix("kafka-") in prefix
    releases = daemon.client().get("/apps/stream/releases").json()
    assert any("KAFKA" in r["description"] for r in releases)

    # topics and groups are made with the CLI, as on Heroku's Basic plans
    r = daemon.cli(
        "kafka:topics:create", "events", "--partitions", "2", "--retention-time", "2d", "-a", "stream"
    )
    assert r.returncode == 0, r.stderr
    assert "done" in r.stderr and f"kafka:topics:info {prefix}events" in r.stdout
    assert daemon.cli("kafka:consumer-groups:create", "readers", "-a", "stream").returncode == 0

    tls = {
        "bootstrap.servers": config["KAFKA_URL"].removeprefix("kafka+ssl://"),
        "security.protocol": "SSL",
        "ssl.ca.pem": config["KAFKA_TRUSTED_CERT"],
        "ssl.certificate.pem": config["KAFKA_CLIENT_CERT"],
        "ssl.key.pem": config["KAFKA_CLIENT_CERT_KEY"],
    }
    p = Producer(tls)
    for i in range(10):
        p.produce(f"{prefix}events", b"event %d" % i, key=b"k%d" % (i % 3))
    assert p.flush(20) == 0
    del p  # librdkafka handles close when the last reference goes
    c = Consumer({**tls, "group.id": f"{prefix}readers", "auto.offset.reset": "earliest"})
    c.subscribe([f"{prefix}events"])
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(got) < 10 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value() or b"")
    c.commit(asynchronous=False)
    c.close()
    assert sorted(got) == sorted(b"event %d" % i for i in range(10))

    info = daemon.cli("kafka:info", "-a", "stream")
    assert info.returncode == 0, info.stderr
    out = info.stdout
    assert out.startswith("=== KAFKA_URL") and "Plan:" in out and "heroku-kafka:basic-0" in out
    lines = dict(line.split(":", 1) for line in out.splitlines()[1:])
    assert "1 / 40 topics" in lines["Topics"] and lines["Prefix"].strip() == prefix
    assert "6 / 240 partition replicas" in out and "Data Size:" in out
    topics = daemon.cli("kafka:topics", "-a", "stream")
    assert "=== Kafka Topics on KAFKA_URL" in topics.stdout and f"prefix: {prefix}" in topics.stdout
    assert f"{prefix}events" in topics.stdout
    groups = json.loads(daemon.cli("kafka:consumer-groups", "-a", "stream", "--json").stdout)
    assert (
        groups["consumer_groups"][0]["name"] == f"{prefix}readers"
        and groups["consumer_groups"][0]["lag"] == 0
    )
    metrics = daemon.client().get(f"/apps/stream/kafka/{addon['name']}/metrics").json()
    assert metrics["topics"][0]["messages_in_total"] == 10 and metrics["data_size"] > 0
    assert (
        metrics["data_size_limit"] == 4 * 1024**3 and metrics["limits"]["produce_bytes_per_sec"] == 64 * 1024
    )
    everyone = daemon.client().get("/kafka/tenants").json()
    assert [t["tenant"] for t in everyone] == [addon["name"]] and everyone[0]["app"] == "stream"
    status = daemon.client().get("/kafka").json()
    assert status["tls_port"] == daemon.d.kafka.tls_port and status["requests"]["produce"] >= 1
    topic_info = daemon.cli("kafka:topics:info", "events", "-a", "stream")
    assert topic_info.returncode == 0, topic_info.stderr
    assert "Produce Quota:" in topic_info.stdout and "64.0 kB/second; never throttled" in topic_info.stdout


def test_write_tail_retention_and_destroy_via_cli(daemon: DaemonThread) -> None:
    _kafka_app(daemon, "tools", "basic-1")
    assert daemon.cli("kafka:topics:create", "log", "--partitions", "1", "-a", "tools").returncode == 0
    prefix = daemon.client().get("/apps/tools/config-vars").json()["KAFKA_PREFIX"]
    for i in range(3):
        r = daemon.cli("kafka:topics:write", "log", f"line {i} " + "x" * 100, "--key", "k", "-a", "tools")
        assert r.returncode == 0, r.stderr
    tail = daemon.cli(
        "kafka:topics:tail", "log", "--from-beginning", "-n", "3", "--max-length", "10", "-a", "tools"
    )
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.splitlines() == [f"{prefix}log 0 {i} 107 line {i} xxx" for i in range(3)]

    # a live tail sees a message written after it started
    lines: list[str] = []
    follower = threading.Thread(
        target=lambda: lines.extend(
            daemon.cli(
                "kafka:topics:tail", "log", "-n", "1", "--idle-timeout", "10", "-a", "tools"
            ).stdout.splitlines()
        )
    )
    follower.start()
    time.sleep(1.5)
    daemon.cli("kafka:topics:write", "log", "fresh", "-a", "tools")
    follower.join(30)
    assert lines == [f"{prefix}log 0 3 5 fresh"]

    r = daemon.cli("kafka:topics:retention-time", "log", "36h", "-a", "tools")
    assert r.returncode == 0, r.stderr
    info = json.loads(daemon.cli("kafka:topics:info", "log", "-a", "tools", "--json").stdout)
    assert info["retention_time_ms"] == 36 * 3600 * 1000 and info["partitions"][0]["high_watermark"] == 4
    bad = daemon.cli("kafka:topics:retention-time", "log", "30d", "-a", "tools")
    assert bad.returncode == 1 and "Retention time must be between 1h and 1w" in bad.stderr

    refused = daemon.cli("kafka:topics:destroy", "log", "-a", "tools")
    assert refused.returncode == 1 and "--confirm tools" in refused.stderr
    assert daemon.cli("kafka:topics:destroy", "log", "--confirm", "tools", "-a", "tools").returncode == 0
    missing = daemon.cli("kafka:topics:info", "log", "-a", "tools")
    assert missing.returncode == 1 and f"Topic {prefix}log not found." in missing.stderr


def test_plan_limits_and_bad_input_are_refused_clearly(daemon: DaemonThread) -> None:
    _kafka_app(daemon, "limits")
    cases = [
        (["kafka:topics:create", "huge", "--partitions", "81"], "partition replicas"),
        (["kafka:topics:create", "bad/name"], "is invalid"),
        (["kafka:topics:create", "t", "--retention-time", "soon"], "Could not parse retention time"),
        (["kafka:topics:create", "t", "--replication-factor", "1"], "replication factor of 3"),
        (["kafka:consumer-groups:destroy", "nope", "--confirm", "limits"], "not found"),
        (["kafka:topics:write", "nope", "hi"], "not found"),
    ]
    for args, message in cases:
        r = daemon.cli(*args, "-a", "limits")
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    refused = daemon.client().post("/apps/limits/addons", json={"plan": "heroku-kafka:standard-0"})
    assert refused.status_code == 422 and "basic-0" in refused.json()["message"]
    assert daemon.client().get("/apps/limits/kafka/KAFKA/topics").json()["topics"] == []


def test_deprovision_removes_the_tenant_and_its_data(daemon: DaemonThread) -> None:
    addon = _kafka_app(daemon, "gone")
    assert daemon.cli("kafka:topics:create", "t", "-a", "gone").returncode == 0
    daemon.cli("kafka:topics:write", "t", "bye", "-a", "gone")
    kafka = daemon.d.kafka
    assert addon["name"] in kafka.store.tenants
    principal = kafka.store.tenants[addon["name"]].principal
    embedded = kafka.embedded
    assert embedded is not None
    broker = embedded.broker
    assert any(b.principal == principal for b in broker.authorizer.bindings)
    r = daemon.client().delete(f"/apps/gone/addons/{addon['name']}")
    assert r.status_code == 200, r.text
    assert addon["name"] not in kafka.store.tenants and not embedded.registry.topics
    # the principal is gone from the cluster: no ACL, no SCRAM credential, no quota
    assert not any(b.principal == principal for b in broker.authorizer.bindings)
    assert principal.removeprefix("User:") not in embedded.registry.scram
    assert not broker.quota_manager.configs
    config = daemon.client().get("/apps/gone/config-vars").json()
    assert not any(k.startswith("KAFKA") for k in config)
    assert list((daemon.settings.kafka_dir / "data").iterdir()) == []
