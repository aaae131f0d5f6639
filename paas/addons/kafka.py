"""The heroku-kafka provider: one tenant of the cluster per add-on (Basic plans).

Provisioning makes a tenant with Admin API calls only (SCRAM credentials, PREFIXED ACLs, plan
quotas; `paas.kafka.tenancy`) and returns Heroku's config vars: KAFKA_URL, KAFKA_PREFIX,
KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT and KAFKA_CLIENT_CERT_KEY (the embedded cluster: a client
certificate from the daemon's CA), plus KAFKA_SASL_BOOTSTRAP_SERVERS / _MECHANISM / _USERNAME /
_PASSWORD. With PAAS_KAFKA_URL they point at that external cluster. Deprovisioning deletes the
tenant's topics and groups, then its ACLs, credentials and quotas.
"""

from __future__ import annotations

from typing import Any

from paas.addons.base import Provisioned
from paas.kafka.plans import PLANS
from paas.kafka.service import KafkaService


class KafkaProvider:
    service = "heroku-kafka"
    aliases = ("kafka",)
    plans = tuple(PLANS)
    default_plan = "basic-0"
    attachment = "KAFKA"
    name_prefix = "kafka"

    def __init__(self, kafka: KafkaService):
        self.kafka = kafka

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned:
        creds = await self.kafka.create_tenant(addon_name, app, plan)
        return Provisioned(
            config=self.kafka.config_vars(creds),
            provider_data={"tenant": addon_name, "prefix": creds.tenant.prefix, "plan": plan},
        )

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        await self.kafka.delete_tenant(str(provider_data.get("tenant", addon_name)))

    async def stop(self) -> None:
        """The broker itself is stopped by the daemon (it outlives provider calls)."""
