"""Who is on a connection and what they may touch (prefixed ACLs, as Heroku's Basic plans).

A tenant may use topics and consumer groups whose names start with its prefix; on Basic plans
a consumer group must also have been created through the CLI first. The platform's admin
principal (SASL user `paas` with the daemon's token) may use everything; an unauthenticated
connection may only ask for ApiVersions, SASL and broker metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, Tenant

ADMIN_USER = "paas"


@dataclass(frozen=True)
class Principal:
    kind: str  # "anonymous" | "tenant" | "admin"
    tenant: Tenant | None = None

    @property
    def name(self) -> str:
        if self.kind == "tenant" and self.tenant is not None:
            return f"User:{self.tenant.id}"
        return "User:ANONYMOUS" if self.kind == "anonymous" else f"User:{ADMIN_USER}"

    @property
    def tenant_id(self) -> str | None:
        return self.tenant.id if self.tenant is not None else None

    def may_topic(self, name: str) -> bool:
        if self.kind == "admin":
            return True
        return self.tenant is not None and name.startswith(self.tenant.prefix)

    def may_group(self, name: str, registry: Registry) -> bool:
        if self.kind == "admin":
            return True
        if self.tenant is None or not name.startswith(self.tenant.prefix):
            return False
        group = registry.groups.get(name)
        return group is not None and group.tenant == self.tenant.id


ANONYMOUS = Principal("anonymous")
ADMIN = Principal("admin")
