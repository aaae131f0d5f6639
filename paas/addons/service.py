"""Add-on lifecycle: find the provider, provision, attach config vars (a new release), destroy."""

from __future__ import annotations

import random
import re
from typing import Any

from sqlalchemy import select

from common.errors import PaasError, invalid, not_found
from paas.addons.base import AddonProvider
from paas.control import ControlPlane, iso
from paas.state.models import Addon, App, new_id

_WORDS = [
    "animate",
    "angular",
    "aerodynamic",
    "clean",
    "closed",
    "colorful",
    "concave",
    "convex",
    "cubic",
    "curved",
    "deep",
    "dimensional",
    "elliptical",
    "encircled",
    "flat",
    "fluffy",
    "graceful",
    "horizontal",
    "infinite",
    "octagonal",
    "opaque",
    "parallel",
    "rigid",
    "round",
    "shallow",
    "silky",
    "slippery",
    "smooth",
    "solid",
    "spherical",
    "symmetrical",
    "transparent",
    "triangular",
    "tubular",
    "vertical",
]
ATTACHMENT = re.compile(r"^[A-Z][A-Z0-9_]*$")


class AddonService:
    def __init__(self, control: ControlPlane):
        self.control = control
        self.providers: dict[str, AddonProvider] = {}

    def register(self, provider: AddonProvider) -> None:
        self.providers[provider.service] = provider
        for alias in provider.aliases:
            self.providers[alias] = provider

    def services(self) -> list[dict[str, Any]]:
        seen: dict[str, AddonProvider] = {p.service: p for p in self.providers.values()}
        return [
            {
                "name": p.service,
                "plans": list(p.plans),
                "default_plan": p.default_plan,
                "aliases": list(p.aliases),
            }
            for p in seen.values()
        ]

    def resolve(self, spec: str) -> tuple[AddonProvider, str]:
        service, _, plan = spec.partition(":")
        provider = self.providers.get(service.strip())
        if provider is None:
            known = ", ".join(sorted({p.service for p in self.providers.values()})) or "none"
            raise PaasError(
                404,
                "not_found",
                f"Couldn't find either the add-on service or the add-on plan {spec!r}. Services: {known}.",
            )
        plan = plan.strip() or provider.default_plan
        if plan not in provider.plans:
            raise invalid(
                f"Plan {plan!r} is not a {provider.service} plan. Plans: {', '.join(provider.plans)}."
            )
        return provider, plan

    def addon_json(self, addon: Addon, app_name: str) -> dict[str, Any]:
        return {
            "id": addon.id,
            "name": addon.name,
            "app": {"name": app_name},
            "addon_service": {"name": addon.service},
            "plan": {"name": f"{addon.service}:{addon.plan}"},
            "state": addon.state,
            "config_vars": list(addon.config_vars or []),
            "attachment": addon.attachment,
            "provider_id": addon.id,
            "web_url": None,
            "created_at": iso(addon.created_at),
            "updated_at": iso(addon.updated_at),
        }

    def list(self, app: str | None) -> list[dict[str, Any]]:
        with self.control.db.session() as s:
            query = select(Addon, App.name).join(App, App.id == Addon.app_id).order_by(Addon.name)
            if app is not None:
                app_row = self.control._app(s, app)
                query = query.where(Addon.app_id == app_row.id)
            return [self.addon_json(a, name) for a, name in s.execute(query)]

    def _find(self, app: str, ident: str) -> tuple[Addon, str]:
        with self.control.db.session() as s:
            app_row = self.control._app(s, app)
            addon = s.scalar(
                select(Addon).where(
                    Addon.app_id == app_row.id,
                    (Addon.name == ident) | (Addon.id == ident) | (Addon.attachment == ident.upper()),
                )
            )
            if addon is None:
                raise not_found("add-on")
            return addon, app_row.name

    def get(self, app: str, ident: str) -> dict[str, Any]:
        addon, name = self._find(app, ident)
        data = self.addon_json(addon, name)
        data["provider_data"] = {k: v for k, v in (addon.provider_data or {}).items() if "password" not in k}
        return data

    def provider_data(self, app: str, ident: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(addon json, full provider data) for provider-specific endpoints."""
        addon, name = self._find(app, ident)
        return self.addon_json(addon, name), dict(addon.provider_data or {})

    async def update_config_vars(self, addon_name: str, config: dict[str, str]) -> None:
        """A provider changed what its add-on's config vars hold (new credentials, a moved port):
        the app gets the values under the add-on's attachment names in one new release, or none
        when it holds them already."""
        with self.control.db.session() as s:
            row = s.scalar(select(Addon).where(Addon.name == addon_name))
            app_row = s.get(App, row.app_id) if row is not None else None
            if row is None or app_row is None:
                raise not_found("add-on")
            app_name, attachment, service = app_row.name, row.attachment, row.service
        provider = self.providers.get(service)
        prefix = provider.attachment if provider is not None else attachment
        renamed = attachment_vars(prefix, attachment, config)
        current = self.control.get_config(app_name)
        changes: dict[str, Any] = {k: v for k, v in renamed.items() if current.get(k) != v}
        if changes:
            self.control.update_config(app_name, changes, description=f"Update {attachment} by {service}")

    async def create(
        self, app: str, spec: str, name: str | None = None, attachment: str | None = None
    ) -> dict[str, Any]:
        provider, plan = self.resolve(spec)
        with self.control.db.session() as s:
            app_row = self.control._app(s, app)
            app_name = app_row.name
            taken = {a.attachment for a in s.scalars(select(Addon).where(Addon.app_id == app_row.id))}
            config = dict(app_row.config or {})
        if attachment is None:
            attachment = provider.attachment
            if attachment in taken or f"{attachment}_URL" in config:
                attachment = f"HEROKU_{provider.attachment}_{random.choice(_WORDS).upper()}"
        elif not ATTACHMENT.match(attachment) or attachment in taken:
            raise invalid(f"Attachment name {attachment!r} is invalid or already used on {app_name}.")
        if name is None:
            name = f"{provider.name_prefix}-{random.choice(_WORDS)}-{random.randint(10000, 99999)}"
        elif not re.fullmatch(r"[a-z][a-z0-9-]{2,60}", name):
            raise invalid(
                "Add-on names are 3 to 61 lowercase letters, digits and dashes, starting with a letter."
            )
        with self.control.db.session() as s:
            if s.scalar(select(Addon.id).where(Addon.name == name)):
                raise invalid(f"Add-on name {name} is already taken.")
            addon_id = new_id()
            s.add(
                Addon(
                    id=addon_id,
                    app_id=self.control._app(s, app).id,
                    name=name,
                    service=provider.service,
                    plan=plan,
                    attachment=attachment,
                    state="provisioning",
                )
            )
        try:
            provisioned = await provider.provision(app_name, name, plan)
        except PaasError:
            self._delete_row(addon_id)
            raise
        except Exception as exc:
            self._delete_row(addon_id)
            raise PaasError(500, "provision_failed", f"Provisioning {name} failed: {exc}") from exc
        # the provider names vars after its own attachment; rename to ours (e.g. HEROKU_POSTGRESQL_X_URL)
        config_vars = {
            attachment + key[len(provider.attachment) :]
            if key.startswith(provider.attachment)
            else key: value
            for key, value in provisioned.config.items()
        }
        with self.control.db.session() as s:
            row = s.get(Addon, addon_id)
            assert row is not None
            row.state = "provisioned"
            row.config_vars = sorted(config_vars)
            row.provider_data = provisioned.provider_data
        self.control.update_config(app_name, dict(config_vars), description=f"Attach {attachment} ({name})")
        self.control.bus.emit(
            "addon.updated", app_name, name=name, service=provider.service, plan=plan, state="provisioned"
        )
        addon_row, _ = self._find(app_name, name)
        return self.addon_json(addon_row, app_name)

    def _delete_row(self, addon_id: str) -> None:
        with self.control.db.session() as s:
            row = s.get(Addon, addon_id)
            if row is not None:
                s.delete(row)

    async def destroy(self, app: str, ident: str) -> dict[str, Any]:
        addon, app_name = self._find(app, ident)
        provider = self.providers.get(addon.service)
        if provider is not None:
            await provider.deprovision(addon.name, dict(addon.provider_data or {}))
        data = self.addon_json(addon, app_name)
        data["state"] = "deprovisioned"
        self._delete_row(addon.id)
        current = self.control.get_config(app_name)
        removals: dict[str, Any] = {k: None for k in addon.config_vars or [] if k in current}
        if removals:
            self.control.update_config(
                app_name, removals, description=f"Detach {addon.attachment} ({addon.name})"
            )
        self.control.bus.emit(
            "addon.updated",
            app_name,
            name=addon.name,
            service=addon.service,
            plan=addon.plan,
            state="deprovisioned",
        )
        return data

    async def destroy_all(self, app: str) -> None:
        for addon in self.list(app):
            try:
                addon_row, _ = self._find(app, addon["name"])
                provider = self.providers.get(addon_row.service)
                if provider is not None:
                    await provider.deprovision(addon_row.name, dict(addon_row.provider_data or {}))
            except PaasError:
                continue

    async def stop(self) -> None:
        for provider in {id(p): p for p in self.providers.values()}.values():
            await provider.stop()


def attachment_vars(provider_prefix: str, attachment: str, config: dict[str, str]) -> dict[str, str]:
    """The provider names vars after its own attachment (REDIS_URL); the add-on's attachment
    may differ (HEROKU_REDIS_RED_URL)."""
    return {
        attachment + key[len(provider_prefix) :] if key.startswith(provider_prefix) else key: value
        for key, value in config.items()
    }
