"""The scheduler add-on (`addons:create scheduler:standard`): no server and no config vars;
it owns the app's scheduler jobs (`paas.scheduler`), and destroying it removes them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from common.errors import invalid
from paas.addons.base import Provisioned
from paas.scheduler.service import SERVICE, SchedulerService
from paas.state.models import Addon, App


class SchedulerProvider:
    service = SERVICE
    aliases = ("heroku-scheduler",)
    plans = ("standard",)
    default_plan = "standard"
    attachment = "SCHEDULER"
    name_prefix = "scheduler"

    def __init__(self, scheduler: SchedulerService):
        self.scheduler = scheduler

    async def provision(self, app: str, addon_name: str, plan: str) -> Provisioned:
        """One scheduler per app, as on Heroku (its row, `provisioning`, is already there)."""
        with self.scheduler.store.session() as s:
            count = s.scalar(
                select(func.count(Addon.id))
                .join(App, App.id == Addon.app_id)
                .where(App.name == app, Addon.service == SERVICE, Addon.name != addon_name)
            )
        if count:
            raise invalid(f"{app} already has Heroku Scheduler; an app has one, with all its jobs.")
        return Provisioned(config={}, provider_data={"plan": plan})

    async def deprovision(self, addon_name: str, provider_data: dict[str, Any]) -> None:
        self.scheduler.delete_addon_jobs(addon_name)

    async def stop(self) -> None:
        """The scheduler's clock is stopped by the daemon."""
