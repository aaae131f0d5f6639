"""The heroku-kafka provider: one tenant of the shared broker per add-on (Basic plans).

Provisioning makes a tenant (prefix, SASL credentials, a client certificate from the daemon's
CA) and returns Heroku's config vars: KAFKA_URL (`kafka+ssl://127.0.0.1:<tls port>`),
KAFKA_PREFIX, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT, KAFKA_CLIENT_CERT_KEY, plus
KAFKA_SASL_BOOTSTRAP_SERVERS / _MECHANISM / _USERNAME / _PASSWORD for the SASL_PLAINTEXT
listener. Deprovisioning deletes the tenant's topics, groups, offsets and credentials.
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
        creds = self.kafka.create_tenant(addon_name, app, plan)
        return Provisioned(
            config=self.kafka.config_vars(creds),
            provider_data={"tenant": addon_name, "prefix": creds.tenant.prefix, "plan": plan},
        )

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        self.kafka.delete_tenant(str(provider_data.get("tenant", addon_name)))

    async def stop(self) -> None:
        """The broker itself is stopped by the daemon (it outlives provider calls)."""
