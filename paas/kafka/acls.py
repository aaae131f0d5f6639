"""Kafka ACLs: bindings, filters and the authorizer (Apache Kafka's AclAuthorizer semantics).

A binding allows or denies one operation on one resource pattern (LITERAL name, the LITERAL
wildcard `*`, or a PREFIXED name) to one principal (`User:<name>` or `User:*`) from one host
(`*` here: every client is on loopback). A request is allowed when no matching DENY binding
exists and a matching ALLOW binding does; READ, WRITE, DELETE and ALTER imply DESCRIBE, and
ALTER_CONFIGS implies DESCRIBE_CONFIGS. Super users (the platform's admin) skip the check;
everyone else with no matching binding is refused (`allow.everyone.if.no.acl.found=false`).

Decisions are cached per (principal, operation, resource) and the cache is dropped whenever a
binding is added or removed, so the produce and fetch paths pay one dict lookup per partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

# resource types
ANY_RESOURCE, TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID = 1, 2, 3, 4, 5
# pattern types
ANY_PATTERN, MATCH, LITERAL, PREFIXED = 1, 2, 3, 4
# operations
ANY_OP, ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 1, 2, 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12
# permissions
ANY_PERMISSION, DENY, ALLOW = 1, 2, 3

WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"
CLUSTER_NAME = "kafka-cluster"

RESOURCE_TYPES = {TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID}
OPERATIONS = set(range(ALL, IDEMPOTENT_WRITE + 1))
# the operations that may be granted on each resource type (Kafka's ResourceType/AclOperation table)
VALID_OPERATIONS: dict[int, set[int]] = {
    TOPIC: {ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS},
    GROUP: {ALL, READ, DELETE, DESCRIBE},
    CLUSTER: {
        ALL,
        CREATE,
        ALTER,
        DESCRIBE,
        CLUSTER_ACTION,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
        IDEMPOTENT_WRITE,
    },
    TRANSACTIONAL_ID: {ALL, WRITE, DESCRIBE},
}
IMPLIED_BY: dict[int, tuple[int, ...]] = {
    DESCRIBE: (DESCRIBE, READ, WRITE, DELETE, ALTER),
    DESCRIBE_CONFIGS: (DESCRIBE_CONFIGS, ALTER_CONFIGS),
}


class AclError(ValueError):
    """A binding or filter that Kafka would refuse (INVALID_REQUEST with this message)."""


@dataclass(frozen=True, slots=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def validate(self) -> None:
        if self.resource_type not in RESOURCE_TYPES:
            raise AclError(f"resource type {self.resource_type} cannot carry ACLs")
        if self.pattern_type not in (LITERAL, PREFIXED):
            raise AclError("an ACL binding needs a LITERAL or PREFIXED pattern")
        if not self.resource_name:
            raise AclError("an ACL binding needs a resource name")
        if self.pattern_type == PREFIXED and self.resource_name == WILDCARD:
            raise AclError("a PREFIXED pattern cannot be the wildcard '*'")
        if self.resource_type == CLUSTER and self.resource_name != CLUSTER_NAME:
            raise AclError(f"the cluster resource is named {CLUSTER_NAME!r}")
        if self.operation not in VALID_OPERATIONS[self.resource_type]:
            raise AclError(f"operation {self.operation} does not apply to resource type {self.resource_type}")
        if self.permission not in (DENY, ALLOW):
            raise AclError("an ACL binding is ALLOW or DENY")
        if not self.principal.startswith("User:") or len(self.principal) <= len("User:"):
            raise AclError(f"principal {self.principal!r} is not of the form User:<name>")

    def covers(self, resource_type: int, name: str) -> bool:
        """Whether this binding's pattern applies to a concrete resource."""
        if self.resource_type != resource_type:
            return False
        if self.pattern_type == PREFIXED:
            return name.startswith(self.resource_name)
        return self.resource_name in (name, WILDCARD)


@dataclass(frozen=True, slots=True)
class AclFilter:
    resource_type: int = ANY_RESOURCE
    resource_name: str | None = None
    pattern_type: int = ANY_PATTERN
    principal: str | None = None
    host: str | None = None
    operation: int = ANY_OP
    permission: int = ANY_PERMISSION

    def validate(self) -> None:
        if self.resource_type not in RESOURCE_TYPES | {ANY_RESOURCE}:
            raise AclError(f"unknown resource type {self.resource_type}")
        if self.pattern_type not in (ANY_PATTERN, MATCH, LITERAL, PREFIXED):
            raise AclError(f"unknown pattern type {self.pattern_type}")
        if self.operation not in OPERATIONS | {ANY_OP}:
            raise AclError(f"unknown operation {self.operation}")
        if self.permission not in (ANY_PERMISSION, DENY, ALLOW):
            raise AclError(f"unknown permission type {self.permission}")

    def matches(self, b: AclBinding) -> bool:
        return (
            self._resource_matches(b)
            and self.principal in (None, b.principal)
            and self.host in (None, b.host)
            and self.operation in (ANY_OP, b.operation)
            and self.permission in (ANY_PERMISSION, b.permission)
        )

    def _resource_matches(self, b: AclBinding) -> bool:
        if self.resource_type not in (ANY_RESOURCE, b.resource_type):
            return False
        if self.pattern_type == MATCH:  # every binding that would apply to this name
            return self.resource_name is None or b.covers(b.resource_type, self.resource_name)
        if self.pattern_type not in (ANY_PATTERN, b.pattern_type):
            return False
        return self.resource_name in (None, b.resource_name)


class Authorizer:
    def __init__(self, super_users: Iterable[str] = ()):
        self.super_users = set(super_users)
        self.bindings: list[AclBinding] = []
        self._cache: dict[tuple[str, int, int, str], bool] = {}
        self.checks = 0
        self.denials = 0

    def load(self, bindings: Iterable[AclBinding]) -> None:
        self.bindings = list(dict.fromkeys(bindings))
        self._cache.clear()

    def add(self, binding: AclBinding) -> bool:
        """Add one binding; False when it already existed (CreateAcls is idempotent)."""
        binding.validate()
        if binding in self.bindings:
            return False
        self.bindings.append(binding)
        self._cache.clear()
        return True

    def remove(self, flt: AclFilter) -> list[AclBinding]:
        gone = [b for b in self.bindings if flt.matches(b)]
        if gone:
            doomed = set(gone)
            self.bindings = [b for b in self.bindings if b not in doomed]
            self._cache.clear()
        return gone

    def describe(self, flt: AclFilter) -> list[AclBinding]:
        return [b for b in self.bindings if flt.matches(b)]

    def authorize(self, principal: str, operation: int, resource_type: int, name: str) -> bool:
        if principal in self.super_users:
            return True
        key = (principal, operation, resource_type, name)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._decide(principal, operation, resource_type, name)
            if len(self._cache) > 100_000:  # bounded: clients naming endless resources
                self._cache.clear()
            self._cache[key] = decision
        self.checks += 1
        if not decision:
            self.denials += 1
        return decision

    def _decide(self, principal: str, operation: int, resource_type: int, name: str) -> bool:
        relevant = [
            b
            for b in self.bindings
            if b.principal in (principal, WILDCARD_PRINCIPAL) and b.covers(resource_type, name)
        ]
        if any(b.permission == DENY and b.operation in (operation, ALL) for b in relevant):
            return False
        granting = IMPLIED_BY.get(operation, (operation,))
        return any(
            b.permission == ALLOW and (b.operation == ALL or b.operation in granting) for b in relevant
        )

    def authorized_operations(self, principal: str, resource_type: int, name: str) -> int:
        """The bit field of Metadata/DescribeGroups `authorized_operations` (bit n = operation n)."""
        bits = 0
        for op in VALID_OPERATIONS[resource_type] - {ALL}:
            if self.authorize(principal, op, resource_type, name):
                bits |= 1 << op
        return bits
