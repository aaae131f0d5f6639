"""The standard admin surface of the cluster, driven by real admin clients (librdkafka, kafka-python).

ACLs (LITERAL and PREFIXED, on topics, groups and transactional ids), SCRAM-SHA-256/512 users,
client quotas and DescribeCluster: the calls an operator of a Kafka cluster makes, and the ones
the Kafka add-on makes to turn a principal into a tenant.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode as E

from paas.kafka import protocol as P
from paas.kafka.wire import WireClient
from tests.support.kafka_broker import BrokerThread, broker_settings
from tests.support.kafka_interop import Cluster

pytestmark = pytest.mark.kafka


def _confluent_admin() -> Any:
    """confluent_kafka.admin, untyped (its stubs miss the re-exports and use no Optional)."""
    import confluent_kafka.admin

    return confluent_kafka.admin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("admin")
    broker = BrokerThread(broker_settings(tmp / "home"), initial_rebalance_delay=0.1).start()
    try:
        yield Cluster(broker, tmp, tenant_id="kafka-admin-20000")
    finally:
        broker.stop()


def _user(cluster: Cluster, admin: Any, mechanism: str = "SCRAM-SHA-512") -> tuple[str, str]:
    """A fresh SCRAM user made with librdkafka's AlterUserScramCredentials."""
    ck = _confluent_admin()
    ScramCredentialInfo = ck.ScramCredentialInfo
    ScramMechanism = ck.ScramMechanism
    UserScramCredentialUpsertion = ck.UserScramCredentialUpsertion

    user, password = f"app-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    upserts = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(getattr(ScramMechanism, m.replace("-", "_")), 4096), password.encode()
        )
        for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
    ]
    for f in admin.alter_user_scram_credentials(upserts).values():
        f.result(10)
    return user, password


def _produce(conf: dict[str, Any], topic: str) -> str | None:
    """None when delivered, else the error's name."""
    from confluent_kafka import KafkaError, Producer

    names = {KafkaError.TOPIC_AUTHORIZATION_FAILED: "TOPIC_AUTHORIZATION_FAILED"}
    errors: list[str | None] = []
    p = Producer({**conf, "message.timeout.ms": 5000})
    p.produce(
        topic,
        b"x",
        on_delivery=lambda err, _m: errors.append(
            None if err is None else names.get(err.code(), str(err.code()))
        ),
    )
    p.flush(10)
    return errors[0] if errors else "undelivered"


def test_scram_users_are_made_described_and_removed_with_librdkafka(cluster: Cluster) -> None:
    from confluent_kafka import KafkaException

    ck = _confluent_admin()
    AdminClient = ck.AdminClient
    ScramMechanism = ck.ScramMechanism
    UserScramCredentialDeletion = ck.UserScramCredentialDeletion

    admin = AdminClient(cluster.confluent_admin())
    user, password = _user(cluster, admin)
    described = admin.describe_user_scram_credentials([user])[user].result(10)
    mechanisms = {info.mechanism for info in described.scram_credential_infos}
    assert mechanisms == {ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512}
    assert {info.iterations for info in described.scram_credential_infos} == {4096}
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):  # both log in (no ACL yet: no topic is visible)
        probe = AdminClient(cluster.confluent_as(user, password, **{"sasl.mechanism": mechanism}))
        assert probe.list_topics(timeout=10).topics == {}
    stats = cluster.broker.embedded.broker.stats
    failures = stats.authentication_failures
    wrong = AdminClient(cluster.confluent_as(user, "not-the-password"))
    with pytest.raises(KafkaException):
        wrong.list_topics(timeout=3)
    assert stats.authentication_failures > failures
    deletions = [
        UserScramCredentialDeletion(user, m)
        for m in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
    ]
    for f in admin.alter_user_scram_credentials(deletions).values():
        f.result(10)
    failures = stats.authentication_failures
    gone = AdminClient(cluster.confluent_as(user, password))
    with pytest.raises(KafkaException):
        gone.list_topics(timeout=3)
    assert stats.authentication_failures > failures


def test_literal_and_prefixed_acls_on_topics_groups_and_transactional_ids(cluster: Cluster) -> None:
    ck = _confluent_admin()
    AclBinding = ck.AclBinding
    AclBindingFilter = ck.AclBindingFilter
    AclOperation = ck.AclOperation
    AclPermissionType = ck.AclPermissionType
    AdminClient = ck.AdminClient
    NewTopic = ck.NewTopic
    ResourcePatternType = ck.ResourcePatternType
    ResourceType = ck.ResourceType

    admin = AdminClient(cluster.confluent_admin())
    user, password = _user(cluster, admin)
    principal = f"User:{user}"
    base = f"acl-{uuid.uuid4().hex[:6]}"
    for f in admin.create_topics(
        [NewTopic(f"{base}.one", 1), NewTopic(f"{base}.two", 1), NewTopic(f"{base}x", 1)]
    ).values():
        f.result(10)
    allow = AclPermissionType.ALLOW
    bindings = [
        AclBinding(
            ResourceType.TOPIC,
            f"{base}.",
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            AclOperation.WRITE,
            allow,
        ),
        AclBinding(
            ResourceType.TOPIC,
            f"{base}x",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            AclOperation.DESCRIBE,
            allow,
        ),
        AclBinding(
            ResourceType.GROUP,
            f"{base}.",
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            AclOperation.READ,
            allow,
        ),
        AclBinding(
            ResourceType.TRANSACTIONAL_ID,
            f"{base}-tx",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            AclOperation.WRITE,
            allow,
        ),
        AclBinding(
            ResourceType.TOPIC,
            f"{base}.two",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            AclOperation.WRITE,
            AclPermissionType.DENY,
        ),
    ]
    for f in admin.create_acls(bindings).values():
        f.result(10)
    conf = cluster.confluent_as(user, password)
    assert _produce(conf, f"{base}.one") is None  # PREFIXED allow
    assert "TOPIC_AUTHORIZATION_FAILED" in (_produce(conf, f"{base}.two") or "")  # a DENY wins
    assert "TOPIC_AUTHORIZATION_FAILED" in (_produce(conf, f"{base}x") or "")  # DESCRIBE does not imply WRITE

    every = admin.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            principal,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(10)
    assert set(every) == set(bindings)
    matching = admin.describe_acls(
        AclBindingFilter(
            ResourceType.TOPIC,
            f"{base}.two",
            ResourcePatternType.MATCH,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(10)
    assert {(b.name, b.resource_pattern_type) for b in matching} == {
        (f"{base}.", ResourcePatternType.PREFIXED),
        (f"{base}.two", ResourcePatternType.LITERAL),
    }
    txn = admin.describe_acls(
        AclBindingFilter(
            ResourceType.TRANSACTIONAL_ID,
            None,
            ResourcePatternType.LITERAL,
            None,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(10)
    assert [b.name for b in txn] == [f"{base}-tx"]

    removed = admin.delete_acls(
        [
            AclBindingFilter(
                ResourceType.TOPIC,
                f"{base}.",
                ResourcePatternType.PREFIXED,
                principal,
                None,
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
        ]
    )
    assert len(next(iter(removed.values())).result(10)) == 1
    assert "TOPIC_AUTHORIZATION_FAILED" in (_produce(conf, f"{base}.one") or "")  # takes effect at once

    # a tenant may not administer ACLs
    tenant_admin = AdminClient(cluster.confluent("sasl"))
    with pytest.raises(Exception, match="CLUSTER_AUTHORIZATION_FAILED"):
        next(iter(tenant_admin.create_acls(bindings[:1]).values())).result(10)


def test_a_tenant_made_with_kafka_python_admin_only(cluster: Cluster) -> None:
    """Heroku's tenant shape with nothing but kafka-python's admin client: SCRAM user, PREFIXED ACLs."""
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        NewTopic,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
        UserScramCredentialUpsertion,
    )

    admin = KafkaAdminClient(**cluster.kafka_python_admin())
    user, password, prefix = f"tenant-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, f"kp{uuid.uuid4().hex[:4]}."
    try:
        failed = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password)]
        )
        assert failed == {user: None}, failed
        acls = [
            ACL(
                f"User:{user}",
                "*",
                op,
                ACLPermissionType.ALLOW,
                ResourcePattern(rtype, prefix, ACLResourcePatternType.PREFIXED),
            )
            for rtype, ops in (
                (ResourceType.TOPIC, (ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE)),
                (ResourceType.GROUP, (ACLOperation.READ, ACLOperation.DESCRIBE)),
            )
            for op in ops
        ]
        created = admin.create_acls(acls)
        assert not created["failed"], created
        admin.create_topics([NewTopic(f"{prefix}events", 1, 1)])
        described = admin.describe_acls(
            ACLFilter(
                f"User:{user}",
                None,
                ACLOperation.ANY,
                ACLPermissionType.ANY,
                ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
            )
        )
        assert len(described[0]) == 5
        conf = cluster.confluent_as(user, password)
        assert _produce(conf, f"{prefix}events") is None
        assert "TOPIC_AUTHORIZATION_FAILED" in (_produce(conf, cluster.topic("not-theirs")) or "")
        admin.delete_acls(
            [
                ACLFilter(
                    f"User:{user}",
                    None,
                    ACLOperation.ANY,
                    ACLPermissionType.ANY,
                    ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
                )
            ]
        )
        assert "TOPIC_AUTHORIZATION_FAILED" in (_produce(conf, f"{prefix}events") or "")
    finally:
        admin.close()


def _quota_entry(user: str | None, ops: dict[str, float | None]) -> dict[str, Any]:
    return {
        "entity": [{"entity_type": "user", "entity_name": user}],
        "ops": [{"key": k, "value": v or 0.0, "remove": v is None} for k, v in ops.items()],
    }


def test_client_quotas_are_altered_described_and_enforced(cluster: Cluster) -> None:
    ck = _confluent_admin()
    AdminClient = ck.AdminClient

    admin_conf = cluster.confluent_admin()
    user, password = _user(cluster, AdminClient(admin_conf))
    with WireClient(cluster.broker.svc.port) as admin:
        assert admin.sasl_plain("paas", cluster.admin_password).error_code == E.none
        altered = admin.request(
            P.ALTER_CLIENT_QUOTAS,
            1,
            {
                "entries": [
                    _quota_entry(user, {"request_percentage": 0.01, "consumer_byte_rate": 1024.0}),
                    _quota_entry(None, {"producer_byte_rate": 4096.0}),
                ],
                "validate_only": False,
            },
        )
        assert [e.error_code for e in altered.entries] == [E.none, E.none]
        bad = admin.request(
            P.ALTER_CLIENT_QUOTAS,
            1,
            {"entries": [_quota_entry(user, {"bogus_rate": 1.0})], "validate_only": False},
        )
        assert bad.entries[0].error_code == E.invalid_request and "bogus_rate" in bad.entries[0].error_message
        exact = admin.request(
            P.DESCRIBE_CLIENT_QUOTAS,
            1,
            {"components": [{"entity_type": "user", "match_type": 0, "match": user}], "strict": False},
        )
        assert {v.key: v.value for v in exact.entries[0].values} == {
            "request_percentage": 0.01,
            "consumer_byte_rate": 1024.0,
        }
        defaults = admin.request(
            P.DESCRIBE_CLIENT_QUOTAS,
            1,
            {"components": [{"entity_type": "user", "match_type": 1, "match": None}], "strict": True},
        )
        assert [(e.entity[0].entity_name, e.values[0].key) for e in defaults.entries] == [
            (None, "producer_byte_rate")
        ]
    # request_percentage: the handler time of this user's requests is budgeted; the client sees it
    with WireClient(cluster.broker.svc.port) as client:
        assert client.sasl_plain(user, password).error_code == E.none
        # 0.01 % of a core is a budget of 100 µs of handler time per second: a Metadata request
        # takes tens of µs, so a handful fit in it on a fast machine (five was not always enough);
        # ask until the first throttle, which then owes about one request's time
        throttle = sent = 0
        while throttle == 0 and sent < 200:
            throttle = P.ms(client.request(P.METADATA, 9, {"topics": None}).throttle_time)
            sent += 1
        assert throttle > 0, f"no throttle after {sent} Metadata requests"
        assert throttle < 5000
        time.sleep(throttle / 1000)
    with WireClient(cluster.broker.svc.port) as admin:
        assert admin.sasl_plain("paas", cluster.admin_password).error_code == E.none
        cleared = admin.request(
            P.ALTER_CLIENT_QUOTAS,
            1,
            {
                "entries": [
                    _quota_entry(user, {"request_percentage": None, "consumer_byte_rate": None}),
                    _quota_entry(None, {"producer_byte_rate": None}),
                ],
                "validate_only": False,
            },
        )
        assert [e.error_code for e in cleared.entries] == [E.none, E.none]
        left = admin.request(
            P.DESCRIBE_CLIENT_QUOTAS,
            1,
            {"components": [{"entity_type": "user", "match_type": 2, "match": None}], "strict": False},
        )
        # only the tenant's plan quota (set by the add-on) remains
        assert [e.entity[0].entity_name for e in left.entries] == [cluster.username]


def test_tenant_quotas_come_from_the_plan(cluster: Cluster, tmp_path: Path) -> None:
    quotas = cluster.broker.call(lambda: cluster.broker.svc.tenancy.user_quotas(cluster.username))  # type: ignore[union-attr]
    assert quotas == {"producer_byte_rate": 4096 * 1024, "consumer_byte_rate": 16384 * 1024}


def test_describe_cluster(cluster: Cluster) -> None:
    with WireClient(cluster.broker.svc.port) as c:
        assert c.sasl_plain(cluster.username, cluster.password).error_code == E.none
        described = c.request(
            P.DESCRIBE_CLUSTER, 1, {"include_cluster_authorized_operations": True, "endpoint_type": 1}
        )
        assert described.error_code == E.none and [b.broker_id for b in described.brokers] == [0]
        assert described.brokers[0].port == cluster.broker.svc.port
        # the tenant holds IDEMPOTENT_WRITE on the cluster (bit 12), nothing else
        assert described.cluster_authorized_operations == 1 << 12
