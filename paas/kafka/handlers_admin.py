"""Cluster administration: topics, configs, DescribeCluster, ACLs, SCRAM credentials, client quotas.

Topic changes go through a `TopicController` (the service: it owns the logs and the registry);
ACLs, SCRAM credentials and quotas are kept by the authorizer, the credential table and the quota
manager and written to the registry at every change. Every call is authorized as Kafka does it:
CREATE on the cluster or the topic, DELETE/ALTER/ALTER_CONFIGS on the topic, DESCRIBE/ALTER on
the cluster for ACLs and SCRAM credentials, DESCRIBE_CONFIGS/ALTER_CONFIGS on it for quotas.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .handlers_data import TRANSACTIONS_REFUSED
from .quotas import QuotaError
from .registry import Topic
from .scram import MAX_ITERATIONS, MECHANISMS, MIN_ITERATIONS, ScramCredential
from .session import CLUSTER_ID, HOST, NODE_ID, UNKNOWN_OPS, BrokerCore, Handler, Reply, Session

log = logging.getLogger("paas.kafka")
E = ErrorCode
TOPIC_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy")
CLEANUP_POLICIES = {"delete": False, "compact": True, "compact,delete": True, "delete,compact": True}


class ConfigError(ValueError):
    """A topic config Kafka would refuse (INVALID_CONFIG with this message)."""


class TopicController(Protocol):
    def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> Topic: ...
    def delete_topic(self, name: str) -> None: ...
    def add_partitions(self, name: str, count: int) -> None: ...
    def set_topic_config(self, name: str, key: str, value: str | None) -> None: ...
    def save(self) -> None: ...


def check_topic_config(key: str, value: str | None) -> None:
    if key not in TOPIC_CONFIGS:
        raise ConfigError(
            f"config {key!r} is not supported by this broker; supported: {', '.join(TOPIC_CONFIGS)}"
        )
    if value is None:
        return
    if key == "cleanup.policy" and value not in CLEANUP_POLICIES:
        raise ConfigError(f"cleanup.policy must be delete, compact or compact,delete, not {value!r}")
    if key != "cleanup.policy" and not value.lstrip("-").isdigit():
        raise ConfigError(
            f"{key} must be a whole number of {'milliseconds' if key.endswith('ms') else 'bytes'}"
        )


class AdminHandlers(BrokerCore):
    controller: TopicController

    def admin_handlers(self) -> dict[int, Handler]:
        return {
            P.CREATE_TOPICS: self.create_topics,
            P.DELETE_TOPICS: self.delete_topics,
            P.CREATE_PARTITIONS: self.create_partitions,
            P.DESCRIBE_CONFIGS: self.describe_configs,
            P.INCREMENTAL_ALTER_CONFIGS: self.incremental_alter_configs,
            P.INIT_PRODUCER_ID: self.init_producer_id,
            P.DESCRIBE_CLUSTER: self.describe_cluster,
            P.CREATE_ACLS: self.create_acls,
            P.DESCRIBE_ACLS: self.describe_acls,
            P.DELETE_ACLS: self.delete_acls,
            P.DESCRIBE_USER_SCRAM_CREDENTIALS: self.describe_scram,
            P.ALTER_USER_SCRAM_CREDENTIALS: self.alter_scram,
            P.DESCRIBE_CLIENT_QUOTAS: self.describe_client_quotas,
            P.ALTER_CLIENT_QUOTAS: self.alter_client_quotas,
        }

    # ------------------------------------------------------------------ topics
    def _topic_denied(self, s: Session, name: str, what: str) -> tuple[ErrorCode, str]:
        hint = ""
        if self.allowed(s, A.DESCRIBE, A.TOPIC, name) or self.allowed(s, A.WRITE, A.TOPIC, name):
            hint = f"; topics of Basic plans are managed with `paas kafka:topics:{what}` (heroku kafka:topics:{what})"
        return E.topic_authorization_failed, f"{s.principal.name} may not {what} topic {name!r}{hint}"

    async def create_topics(self, s: Session, req: P.Request) -> Reply:
        results = [self._create_topic(s, t, req.body.validate_only) for t in req.body.topics]
        return self.respond(req, {"topics": results})

    def _create_topic(self, s: Session, t: Any, validate_only: bool) -> dict[str, Any]:
        err, msg = E.none, None
        partitions = t.num_partitions if t.num_partitions > 0 else 1
        configs = {c.name: c.value for c in t.configs if c.value is not None}
        if not (self.cluster_allowed(s, A.CREATE) or self.allowed(s, A.CREATE, A.TOPIC, t.name)):
            err, msg = self._topic_denied(s, t.name, "create")
        elif t.name in self.registry.topics:
            err, msg = E.topic_already_exists, f"Topic {t.name!r} already exists."
        else:
            try:
                for key, value in configs.items():
                    check_topic_config(key, value)
                if not validate_only:
                    partitions = self.controller.create_topic(t.name, partitions, configs).partitions
                    log.info(
                        "kafka: %s created topic %s (%d partitions)", s.principal.name, t.name, partitions
                    )
            except ConfigError as exc:
                err, msg = E.invalid_config, str(exc)
            except ValueError as exc:
                err, msg = E.invalid_topic_exception, str(exc)
        return {
            "name": t.name,
            "error_code": err,
            "error_message": msg,
            "num_partitions": partitions if err == E.none else -1,
            "replication_factor": 1 if err == E.none else -1,
            "configs": None if err != E.none else (),
        }

    async def delete_topics(self, s: Session, req: P.Request) -> Reply:
        names = (
            list(req.body.topic_names)
            if hasattr(req.body, "topic_names")
            else [t.name for t in req.body.topics]
        )
        results = []
        for name in names:
            err, msg = E.none, None
            if not self.allowed(s, A.DELETE, A.TOPIC, name):
                err, msg = self._topic_denied(s, name, "destroy")
            elif name not in self.registry.topics:
                err, msg = E.unknown_topic_or_partition, f"Topic {name!r} does not exist."
            else:
                self.controller.delete_topic(name)
                log.info("kafka: %s deleted topic %s", s.principal.name, name)
            results.append({"name": name, "error_code": err, "error_message": msg})
        return self.respond(req, {"responses": results})

    async def create_partitions(self, s: Session, req: P.Request) -> Reply:
        results = []
        for t in req.body.topics:
            err, msg = E.none, None
            topic = self.registry.topics.get(t.name)
            if not self.allowed(s, A.ALTER, A.TOPIC, t.name):
                err, msg = self._topic_denied(s, t.name, "alter")
            elif topic is None:
                err, msg = E.unknown_topic_or_partition, f"Topic {t.name!r} does not exist."
            elif t.count <= topic.partitions:
                err, msg = E.invalid_partitions, f"Topic already has {topic.partitions} partitions."
            elif not req.body.validate_only:
                self.controller.add_partitions(t.name, t.count)
            results.append({"name": t.name, "error_code": err, "error_message": msg})
        return self.respond(req, {"results": results})

    # ------------------------------------------------------------------ configs
    def topic_configs(self, topic: Topic) -> list[tuple[str, str, bool]]:
        """(name, value, is_default) of a topic's effective configuration."""
        return [
            ("cleanup.policy", "compact,delete" if topic.compaction else "delete", not topic.compaction),
            ("retention.ms", str(topic.retention_ms), False),
            ("retention.bytes", str(topic.retention_bytes), topic.retention_bytes < 0),
            ("max.message.bytes", "1048588", True),
            ("segment.bytes", str(self.logs.segment_bytes), True),
            ("message.timestamp.type", "CreateTime", True),
            ("compression.type", "producer", True),
            ("min.insync.replicas", "1", True),
        ]

    def broker_configs(self) -> list[tuple[str, str, bool]]:
        return [
            ("auto.create.topics.enable", "false", False),
            ("message.max.bytes", "1048588", True),
            ("num.partitions", "8", False),
            ("default.replication.factor", "1", False),
            ("log.segment.bytes", str(self.logs.segment_bytes), False),
            ("allow.everyone.if.no.acl.found", "false", False),
            ("super.users", "User:paas", False),
            ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", False),
        ]

    async def describe_configs(self, s: Session, req: P.Request) -> Reply:
        results = [self._describe_resource(s, r) for r in req.body.resources]
        return self.respond(req, {"results": results})

    def _describe_resource(self, s: Session, r: Any) -> dict[str, Any]:
        keys = set(r.configuration_keys) if r.configuration_keys else None
        err, msg = E.none, None
        entries: list[tuple[str, str, bool]] = []
        if r.resource_type == A.TOPIC:
            err = self.topic_error(s, A.DESCRIBE_CONFIGS, r.resource_name)
            topic = self.registry.topics.get(r.resource_name)
            if err == E.none and topic is not None:
                entries = self.topic_configs(topic)
            elif err == E.topic_authorization_failed:
                msg = f"not authorized to access topic {r.resource_name!r}"
        elif r.resource_type == 4:  # BROKER
            if r.resource_name not in ("", str(NODE_ID)):
                err, msg = (
                    E.invalid_request,
                    f"there is no broker {r.resource_name!r} (this cluster has broker 0)",
                )
            elif not self.cluster_allowed(s, A.DESCRIBE_CONFIGS):
                err, msg = (
                    E.cluster_authorization_failed,
                    "not authorized to describe the broker's configuration",
                )
            else:
                entries = self.broker_configs()
        else:
            err, msg = E.invalid_request, f"resource type {r.resource_type} is not supported"
        configs = [
            {
                "name": name,
                "value": value,
                "read_only": r.resource_type != A.TOPIC,
                "config_source": 5 if is_default else (1 if r.resource_type == A.TOPIC else 4),
                "is_default": is_default,
                "is_sensitive": False,
                "synonyms": (),
                "config_type": 0,
                "documentation": None,
            }
            for name, value, is_default in entries
            if keys is None or name in keys
        ]
        return {
            "error_code": err,
            "error_message": msg,
            "resource_type": r.resource_type,
            "resource_name": r.resource_name,
            "configs": configs,
        }

    async def incremental_alter_configs(self, s: Session, req: P.Request) -> Reply:
        responses = []
        for r in req.body.resources:
            err, msg = self._alter_resource(s, r, req.body.validate_only)
            responses.append(
                {
                    "error_code": err,
                    "error_message": msg,
                    "resource_type": r.resource_type,
                    "resource_name": r.resource_name,
                }
            )
        return self.respond(req, {"responses": responses})

    def _alter_resource(self, s: Session, r: Any, validate_only: bool) -> tuple[ErrorCode, str | None]:
        if r.resource_type != A.TOPIC:
            return E.invalid_request, "only topic configs can be altered on this broker"
        err = self.topic_error(s, A.ALTER_CONFIGS, r.resource_name)
        if err != E.none:
            return err, None
        try:
            changes = []
            for c in r.configs:
                if c.config_operation not in (0, 1):  # SET, DELETE
                    raise ConfigError(f"{c.name}: only SET and DELETE operations are supported")
                value = c.value if c.config_operation == 0 else None
                check_topic_config(c.name, value)
                changes.append((c.name, value))
        except ConfigError as exc:
            return E.invalid_config, str(exc)
        if not validate_only:
            for key, value in changes:
                self.controller.set_topic_config(r.resource_name, key, value)
        return E.none, None

    # ----------------------------------------------------------------- cluster
    async def init_producer_id(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if b.transactional_id is not None:
            refused = {
                "error_code": E.transactional_id_authorization_failed,
                "producer_id": -1,
                "producer_epoch": -1,
            }
            log.info(
                "kafka: %s asked for a transactional producer: %s", s.principal.name, TRANSACTIONS_REFUSED
            )
            return self.respond(req, refused)
        if not self._may_write_idempotently(s):
            denied = {"error_code": E.cluster_authorization_failed, "producer_id": -1, "producer_epoch": -1}
            return self.respond(req, denied)
        pid, epoch = getattr(b, "producer_id", -1), getattr(b, "producer_epoch", -1)
        if pid >= 0 and 0 <= epoch < 32766:
            return self.respond(req, {"error_code": E.none, "producer_id": pid, "producer_epoch": epoch + 1})
        values = {
            "error_code": E.none,
            "producer_id": self.registry.allocate_producer_id(),
            "producer_epoch": 0,
        }
        return self.respond(req, values)

    def _may_write_idempotently(self, s: Session) -> bool:
        """Kafka 3.x: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic."""
        if self.cluster_allowed(s, A.IDEMPOTENT_WRITE):
            return True
        return any(
            b.permission == A.ALLOW
            and b.resource_type == A.TOPIC
            and b.operation in (A.WRITE, A.ALL)
            and b.principal in (s.principal.name, A.WILDCARD_PRINCIPAL)
            for b in self.authorizer.bindings
        )

    async def describe_cluster(self, s: Session, req: P.Request) -> Reply:
        ops = UNKNOWN_OPS
        if req.body.include_cluster_authorized_operations:
            ops = self.authorizer.authorized_operations(s.principal.name, A.CLUSTER, A.CLUSTER_NAME)
        return self.respond(
            req,
            {
                "error_code": E.none,
                "endpoint_type": getattr(req.body, "endpoint_type", 1),
                "cluster_id": CLUSTER_ID,
                "controller_id": NODE_ID,
                "brokers": [{"broker_id": NODE_ID, "host": HOST, "port": s.port, "rack": None}],
                "cluster_authorized_operations": ops,
            },
        )

    # -------------------------------------------------------------------- ACLs
    def _save_acls(self) -> None:
        self.registry.acls = list(self.authorizer.bindings)
        self.controller.save()

    async def create_acls(self, s: Session, req: P.Request) -> Reply:
        if not self.cluster_allowed(s, A.ALTER):
            denied = {
                "error_code": E.cluster_authorization_failed,
                "error_message": "ALTER on the cluster is needed",
            }
            return self.respond(req, {"results": [denied for _ in req.body.creations]})
        results: list[dict[str, Any]] = []
        for c in req.body.creations:
            binding = A.AclBinding(
                c.resource_type,
                c.resource_name,
                c.resource_pattern_type,
                c.principal,
                c.host,
                c.operation,
                c.permission_type,
            )
            try:
                if self.authorizer.add(binding):
                    log.info("kafka: %s added ACL %s", s.principal.name, binding)
                results.append({"error_code": E.none, "error_message": None})
            except A.AclError as exc:
                results.append({"error_code": E.invalid_request, "error_message": str(exc)})
        self._save_acls()
        return self.respond(req, {"results": results})

    async def describe_acls(self, s: Session, req: P.Request) -> Reply:
        if not self.cluster_allowed(s, A.DESCRIBE):
            return self.respond(
                req,
                {
                    "error_code": E.cluster_authorization_failed,
                    "error_message": "DESCRIBE on the cluster is needed",
                },
            )
        try:
            flt = _filter(req.body)
        except A.AclError as exc:
            return self.respond(req, {"error_code": E.invalid_request, "error_message": str(exc)})
        grouped: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
        for b in self.authorizer.describe(flt):
            grouped.setdefault((b.resource_type, b.resource_name, b.pattern_type), []).append(
                {
                    "principal": b.principal,
                    "host": b.host,
                    "operation": b.operation,
                    "permission_type": b.permission,
                }
            )
        resources = [
            {"resource_type": rt, "resource_name": name, "pattern_type": pt, "acls": acls}
            for (rt, name, pt), acls in grouped.items()
        ]
        return self.respond(req, {"error_code": E.none, "error_message": None, "resources": resources})

    async def delete_acls(self, s: Session, req: P.Request) -> Reply:
        if not self.cluster_allowed(s, A.ALTER):
            denied = {
                "error_code": E.cluster_authorization_failed,
                "error_message": "ALTER on the cluster is needed",
            }
            return self.respond(req, {"filter_results": [denied for _ in req.body.filters]})
        results = []
        for f in req.body.filters:
            try:
                gone = self.authorizer.remove(_filter(f))
            except A.AclError as exc:
                results.append(
                    {"error_code": E.invalid_request, "error_message": str(exc), "matching_acls": []}
                )
                continue
            results.append(
                {"error_code": E.none, "error_message": None, "matching_acls": [_matching(b) for b in gone]}
            )
            if gone:
                log.info("kafka: %s removed %d ACL(s)", s.principal.name, len(gone))
        self._save_acls()
        return self.respond(req, {"filter_results": results})

    # ------------------------------------------------------------------- SCRAM
    async def describe_scram(self, s: Session, req: P.Request) -> Reply:
        if not self.cluster_allowed(s, A.DESCRIBE):
            return self.respond(
                req,
                {
                    "error_code": E.cluster_authorization_failed,
                    "error_message": "DESCRIBE on the cluster is needed",
                },
            )
        names = [u.name for u in req.body.users] if req.body.users else sorted(self.registry.scram)
        results = []
        for name in names:
            creds = self.registry.scram.get(name)
            if not creds:
                results.append(
                    {
                        "user": name,
                        "error_code": E.resource_not_found,
                        "error_message": f"no SCRAM credentials for {name!r}",
                    }
                )
                continue
            infos = [{"mechanism": m, "iterations": c.iterations} for m, c in sorted(creds.items())]
            results.append({"user": name, "error_code": E.none, "credential_infos": infos})
        return self.respond(req, {"error_code": E.none, "results": results})

    async def alter_scram(self, s: Session, req: P.Request) -> Reply:
        changes: list[tuple[str, int, ScramCredential | ValueError | None]] = [
            (d.name, d.mechanism, None) for d in req.body.deletions
        ]
        changes += [(u.name, u.mechanism, _credential(u)) for u in req.body.upsertions]
        results: dict[str, dict[str, Any]] = {}
        allowed = self.cluster_allowed(s, A.ALTER)
        for name, mechanism, credential in changes:
            err, msg = self._scram_change(allowed, name, mechanism, credential)
            if name not in results or err != E.none:
                results[name] = {"user": name, "error_code": err, "error_message": msg}
        self.controller.save()
        return self.respond(req, {"results": list(results.values())})

    def _scram_change(
        self, allowed: bool, name: str, mechanism: int, credential: ScramCredential | ValueError | None
    ) -> tuple[ErrorCode, str | None]:
        if not allowed:
            return E.cluster_authorization_failed, "ALTER on the cluster is needed"
        if not name:
            return E.unacceptable_credential, "a user name is needed"
        if mechanism not in MECHANISMS:
            return E.unsupported_sasl_mechanism, f"unknown SCRAM mechanism {mechanism}"
        if isinstance(credential, ValueError):
            return E.unacceptable_credential, str(credential)
        creds = self.registry.scram.setdefault(name, {})
        if credential is None:
            if mechanism not in creds:
                return E.resource_not_found, f"no {MECHANISMS[mechanism]} credential for {name!r}"
            del creds[mechanism]
        else:
            creds[mechanism] = credential
        if not creds:
            del self.registry.scram[name]
        log.info(
            "kafka: SCRAM %s credential of %s %s",
            MECHANISMS[mechanism],
            name,
            "removed" if credential is None else "set",
        )
        return E.none, None

    # ------------------------------------------------------------------ quotas
    async def describe_client_quotas(self, s: Session, req: P.Request) -> Reply:
        if not self.cluster_allowed(s, A.DESCRIBE_CONFIGS):
            return self.respond(
                req,
                {
                    "error_code": E.cluster_authorization_failed,
                    "error_message": "DESCRIBE_CONFIGS on the cluster is needed",
                    "entries": None,
                },
            )
        match = [(c.entity_type, c.match_type, c.match) for c in req.body.components]
        found = self.quota_manager.describe(match, req.body.strict)
        entries = [
            {
                "entity": [{"entity_type": t, "entity_name": n} for t, n in ent],
                "values": [{"key": k, "value": v} for k, v in sorted(values.items())],
            }
            for ent, values in found
        ]
        return self.respond(req, {"error_code": E.none, "entries": entries})

    async def alter_client_quotas(self, s: Session, req: P.Request) -> Reply:
        allowed = self.cluster_allowed(s, A.ALTER_CONFIGS)
        entries = []
        for e in req.body.entries:
            target = tuple(sorted((d.entity_type, d.entity_name) for d in e.entity))
            err, msg = E.none, None
            try:
                if not allowed:
                    err, msg = E.cluster_authorization_failed, "ALTER_CONFIGS on the cluster is needed"
                else:
                    changes = [(op.key, op.value, op.remove) for op in e.ops]
                    self.quota_manager.alter(target, changes, req.body.validate_only)
            except QuotaError as exc:
                err, msg = E.invalid_request, str(exc)
            entries.append(
                {
                    "error_code": err,
                    "error_message": msg,
                    "entity": [{"entity_type": t, "entity_name": n} for t, n in target],
                }
            )
        self.registry.quotas = {k: dict(v) for k, v in self.quota_manager.configs.items()}
        self.controller.save()
        return self.respond(req, {"entries": entries})


def _filter(f: Any) -> A.AclFilter:
    flt = A.AclFilter(
        f.resource_type_filter,
        f.resource_name_filter,
        getattr(f, "pattern_type_filter", A.LITERAL),
        f.principal_filter,
        f.host_filter,
        f.operation,
        f.permission_type,
    )
    flt.validate()
    return flt


def _matching(b: A.AclBinding) -> dict[str, Any]:
    return {
        "error_code": E.none,
        "error_message": None,
        "resource_type": b.resource_type,
        "resource_name": b.resource_name,
        "pattern_type": b.pattern_type,
        "principal": b.principal,
        "host": b.host,
        "operation": b.operation,
        "permission_type": b.permission,
    }


def _credential(u: Any) -> ScramCredential | ValueError:
    if u.mechanism not in MECHANISMS:
        return ValueError(f"unknown SCRAM mechanism {u.mechanism}")
    if not MIN_ITERATIONS <= u.iterations <= MAX_ITERATIONS:
        return ValueError(f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    if not u.salt or not u.salted_password:
        return ValueError("a salt and a salted password are needed")
    return ScramCredential.from_salted(u.mechanism, bytes(u.salt), u.iterations, bytes(u.salted_password))
