"""Tenants of a Kafka cluster, made and removed through the Admin API only (as on Heroku).

A tenant (one Kafka add-on) is, in plain Kafka terms:
- a principal `User:<username>` with SCRAM-SHA-256 and -512 credentials (AlterUserScramCredentials)
  and, on the embedded cluster, a client certificate whose CN is that username;
- ACLs (CreateAcls): PREFIXED on its `KAFKA_PREFIX` for topics (READ, WRITE, DESCRIBE,
  DESCRIBE_CONFIGS, and DELETE, which DeleteRecords needs, and which lets a client delete the
  tenant's own topics too: Kafka has no finer right) and for groups (DESCRIBE); IDEMPOTENT_WRITE on the cluster; and, per group made
  with `kafka:consumer-groups:create`, a LITERAL group ACL (READ, DELETE), which is Heroku's
  Basic-plan rule that a group is created before it is used;
- client quotas from its plan on `user=<username>` (AlterClientQuotas);
- topics made with CreateTopics (retention, cleanup policy, and `retention.bytes` per partition so
  that the plan's capacity holds when every partition is full).
Credential reset gives the tenant a new principal, moves its ACLs and quotas there and removes the
old one's: an old password or certificate authenticates to nothing that is allowed anything.

Tenant records (app, plan, prefix, credentials) are kept by the add-on in `tenants.json` (0600).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .admin_client import AdminClient, AdminError, check
from .plans import PLANS, REPLICATION_FACTOR, Plan
from .quotas import CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE
from .scram import MECHANISMS, MIN_ITERATIONS, salted_password

TOPIC_GRANTS = (A.READ, A.WRITE, A.DELETE, A.DESCRIBE, A.DESCRIBE_CONFIGS)
GROUP_GRANTS = (A.READ, A.DELETE)


@dataclass
class Tenant:
    id: str  # the add-on name, e.g. "kafka-shaped-12345"
    app: str
    plan: str
    prefix: str  # "shaped-12345."
    username: str
    password: str
    generation: int = 0  # credential resets so far
    groups: list[str] = field(default_factory=list)  # made with kafka:consumer-groups:create
    retired: list[str] = field(default_factory=list)  # principals still to empty (a reset cut short)
    created_at: float = field(default_factory=time.time)

    @property
    def principal(self) -> str:
        return f"User:{self.username}"


class TenantStore:
    def __init__(self, path: Path):
        self.path = path
        self.tenants: dict[str, Tenant] = {}

    def load(self) -> None:
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.tenants = {k: Tenant(**v) for k, v in data.items()}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({k: asdict(v) for k, v in self.tenants.items()}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def new_prefix(tenant_id: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", tenant_id.lower()).removeprefix("kafka-").strip("-") or "tenant"
    prefix = f"{base}."
    while prefix in taken:
        prefix = f"{base}-{secrets.randbelow(9000) + 1000}."
    return prefix


def tenant_acls(t: Tenant) -> list[dict[str, Any]]:
    """The ACL creations that make `t` a tenant (CreateAcls `creations`)."""

    def acl(rtype: int, name: str, pattern: int, op: int) -> dict[str, Any]:
        return {
            "resource_type": rtype,
            "resource_name": name,
            "resource_pattern_type": pattern,
            "principal": t.principal,
            "host": "*",
            "operation": op,
            "permission_type": A.ALLOW,
        }

    return (
        [acl(A.TOPIC, t.prefix, A.PREFIXED, op) for op in TOPIC_GRANTS]
        + [acl(A.GROUP, t.prefix, A.PREFIXED, A.DESCRIBE)]
        + [acl(A.CLUSTER, A.CLUSTER_NAME, A.LITERAL, A.IDEMPOTENT_WRITE)]
        + [acl(A.GROUP, g, A.LITERAL, op) for g in t.groups for op in GROUP_GRANTS]
    )


class Tenancy:
    """Tenant operations on one cluster, all of them Admin API calls through `admin`."""

    def __init__(self, admin: AdminClient, store: TenantStore):
        self.admin = admin
        self.store = store

    # ------------------------------------------------------------ principals
    async def _set_credentials(self, t: Tenant) -> None:
        upsertions = []
        for mechanism in MECHANISMS:
            salt = secrets.token_bytes(24)
            upsertions.append(
                {
                    "name": t.username,
                    "mechanism": mechanism,
                    "iterations": MIN_ITERATIONS,
                    "salt": salt,
                    "salted_password": salted_password(mechanism, t.password, salt, MIN_ITERATIONS),
                }
            )
        resp = await self.admin.call(
            P.ALTER_USER_SCRAM_CREDENTIALS, {"deletions": [], "upsertions": upsertions}
        )
        for r in resp.results:
            check(f"SCRAM credentials of {r.user}", r.error_code, r.error_message)

    async def _drop_credentials(self, username: str) -> None:
        deletions = [{"name": username, "mechanism": m} for m in MECHANISMS]
        resp = await self.admin.call(
            P.ALTER_USER_SCRAM_CREDENTIALS, {"deletions": deletions, "upsertions": []}
        )
        for r in resp.results:
            check(
                f"SCRAM credentials of {r.user}",
                r.error_code,
                r.error_message,
                ok=(ErrorCode.resource_not_found,),
            )

    async def _grant(self, creations: list[dict[str, Any]]) -> None:
        if not creations:
            return
        resp = await self.admin.call(P.CREATE_ACLS, {"creations": creations})
        for r in resp.results:
            check("CreateAcls", r.error_code, r.error_message)

    async def _revoke(self, filters: list[dict[str, Any]]) -> int:
        resp = await self.admin.call(P.DELETE_ACLS, {"filters": filters})
        for r in resp.filter_results:
            check("DeleteAcls", r.error_code, r.error_message)
        return sum(len(r.matching_acls) for r in resp.filter_results)

    async def _quotas(self, username: str, plan: Plan | None) -> None:
        ops = [
            {
                "key": PRODUCER_BYTE_RATE,
                "value": float(plan.produce_bytes_per_sec) if plan else 0.0,
                "remove": plan is None,
            },
            {
                "key": CONSUMER_BYTE_RATE,
                "value": float(plan.consume_bytes_per_sec) if plan else 0.0,
                "remove": plan is None,
            },
        ]
        entry = {"entity": [{"entity_type": "user", "entity_name": username}], "ops": ops}
        resp = await self.admin.call(P.ALTER_CLIENT_QUOTAS, {"entries": [entry], "validate_only": False})
        for e in resp.entries:
            check(f"client quotas of {username}", e.error_code, e.error_message)

    async def provision(self, tenant_id: str, app: str, plan_name: str) -> Tenant:
        taken = {t.prefix for t in self.store.tenants.values()}
        t = Tenant(
            tenant_id, app, plan_name, new_prefix(tenant_id, taken), tenant_id, secrets.token_urlsafe(24)
        )
        # recorded first: if the daemon dies between the calls below, deprovisioning finds it
        self.store.tenants[tenant_id] = t
        self.store.save()
        await self._set_credentials(t)
        await self._grant(tenant_acls(t))
        await self._quotas(t.username, PLANS[plan_name])
        return t

    async def adopt(self, t: Tenant) -> None:
        """Make an existing tenant record real on the cluster (credentials, ACLs, quotas)."""
        self.store.tenants[t.id] = t
        self.store.save()
        await self._set_credentials(t)
        await self._grant(tenant_acls(t))
        await self._quotas(t.username, PLANS[t.plan])

    async def rotate(self, t: Tenant) -> Tenant:
        """New principal and password; ACLs and quotas move to it; the old principal is emptied.

        Each step is recorded before it is taken, so a reset cut short by a crash leaves the
        principal it had not finished with in `retired`, which the next start (or deprovisioning)
        empties."""
        generation = t.generation + 1
        new_user = f"{t.id}-r{generation}"
        t.retired = sorted({*t.retired, new_user})
        self.store.save()
        fresh = replace(t, generation=generation, username=new_user, password=secrets.token_urlsafe(24))
        await self._set_credentials(fresh)
        await self._grant(tenant_acls(fresh))
        await self._quotas(fresh.username, PLANS[t.plan])
        fresh.retired = sorted({*t.retired, t.username} - {new_user})
        self.store.tenants[t.id] = fresh
        self.store.save()
        return fresh  # the old principal is emptied by finish_retirements, once the app has the new one

    async def finish_retirements(self, t: Tenant) -> None:
        for username in list(t.retired):
            await self._retire(username)
            t.retired = [u for u in t.retired if u != username]
            self.store.save()

    async def _retire(self, username: str) -> None:
        await self._revoke([_principal_filter(f"User:{username}")])
        await self._drop_credentials(username)
        await self._quotas(username, None)

    async def deprovision(self, t: Tenant) -> None:
        for name in await self.topic_names(t):
            await self.delete_topic(name)
        groups = [g for g in await self.group_names() if g.startswith(t.prefix)]
        if groups:
            await self.admin.call(P.DELETE_GROUPS, {"groups_names": groups})
        await self.finish_retirements(t)
        await self._retire(t.username)
        self.store.tenants.pop(t.id, None)
        self.store.save()

    # ---------------------------------------------------------------- topics
    async def topics(self) -> dict[str, int]:
        """Every topic the admin sees: name -> partition count."""
        resp = await self.admin.call(P.METADATA, {"topics": None, "allow_auto_topic_creation": False})
        return {t.name: len(t.partitions) for t in resp.topics if t.error_code == ErrorCode.none}

    async def topic_names(self, t: Tenant) -> list[str]:
        return sorted(n for n in await self.topics() if n.startswith(t.prefix))

    async def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> int:
        topic = {
            "name": name,
            "num_partitions": partitions,
            "replication_factor": -1,
            "assignments": [],
            "configs": [{"name": k, "value": v} for k, v in configs.items()],
        }
        resp = await self.admin.call(
            P.CREATE_TOPICS, {"topics": [topic], "timeout": 15_000, "validate_only": False}
        )
        result = resp.topics[0]
        check(f"creating topic {name}", result.error_code, result.error_message)
        return int(result.num_partitions) if result.num_partitions > 0 else partitions

    async def delete_topic(self, name: str) -> None:
        resp = await self.admin.call(P.DELETE_TOPICS, {"topic_names": [name], "timeout": 15_000})
        result = resp.responses[0]
        check(f"deleting topic {name}", result.error_code, getattr(result, "error_message", None))

    async def topic_configs(self, name: str) -> dict[str, str]:
        resource = {"resource_type": A.TOPIC, "resource_name": name, "configuration_keys": None}
        resp = await self.admin.call(P.DESCRIBE_CONFIGS, {"resources": [resource], "include_synonyms": False})
        result = resp.results[0]
        check(f"describing topic {name}", result.error_code, result.error_message)
        return {c.name: c.value for c in result.configs if c.value is not None}

    async def alter_topic(self, name: str, changes: dict[str, str | None]) -> None:
        configs = [
            {"name": k, "config_operation": 0 if v is not None else 1, "value": v} for k, v in changes.items()
        ]
        resource = {"resource_type": A.TOPIC, "resource_name": name, "configs": configs}
        resp = await self.admin.call(
            P.INCREMENTAL_ALTER_CONFIGS, {"resources": [resource], "validate_only": False}
        )
        result = resp.responses[0]
        check(f"altering topic {name}", result.error_code, result.error_message)

    # ---------------------------------------------------------------- groups
    async def group_names(self) -> list[str]:
        resp = await self.admin.call(P.LIST_GROUPS, {"states_filter": []})
        check("ListGroups", resp.error_code)
        return sorted(g.group_id for g in resp.groups)

    async def create_group(self, t: Tenant, name: str) -> None:
        await self._grant(
            [acl for acl in tenant_acls(replace(t, groups=[name])) if acl["resource_name"] == name]
        )
        t.groups = sorted({*t.groups, name})
        self.store.save()

    async def delete_group(self, t: Tenant, name: str) -> None:
        resp = await self.admin.call(P.DELETE_GROUPS, {"groups_names": [name]})
        result = resp.results[0]
        check(f"deleting group {name}", result.error_code, ok=(ErrorCode.group_id_not_found,))
        await self._revoke(
            [
                {
                    "resource_type_filter": A.GROUP,
                    "resource_name_filter": name,
                    "pattern_type_filter": A.LITERAL,
                    "principal_filter": t.principal,
                    "host_filter": None,
                    "operation": A.ANY_OP,
                    "permission_type": A.ANY_PERMISSION,
                }
            ]
        )
        t.groups = [g for g in t.groups if g != name]
        self.store.save()

    async def describe_groups(self, names: list[str]) -> dict[str, Any]:
        if not names:
            return {}
        resp = await self.admin.call(
            P.DESCRIBE_GROUPS, {"groups": names, "include_authorized_operations": False}
        )
        return {g.group_id: g for g in resp.groups}

    async def user_quotas(self, username: str) -> dict[str, float]:
        components = [{"entity_type": "user", "match_type": 0, "match": username}]
        resp = await self.admin.call(P.DESCRIBE_CLIENT_QUOTAS, {"components": components, "strict": False})
        check("DescribeClientQuotas", resp.error_code, resp.error_message)
        return {v.key: v.value for e in resp.entries or () for v in e.values}


def _principal_filter(principal: str) -> dict[str, Any]:
    return {
        "resource_type_filter": A.ANY_RESOURCE,
        "resource_name_filter": None,
        "pattern_type_filter": A.ANY_PATTERN,
        "principal_filter": principal,
        "host_filter": None,
        "operation": A.ANY_OP,
        "permission_type": A.ANY_PERMISSION,
    }


def capacity_per_partition(plan: Plan) -> int:
    """retention.bytes per partition so the plan's capacity holds with every partition full."""
    return plan.capacity_bytes * REPLICATION_FACTOR // plan.max_partition_replicas


__all__ = ["AdminError", "Tenancy", "Tenant", "TenantStore", "capacity_per_partition"]
