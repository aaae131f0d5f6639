"""Add-on lifecycle: find the provider, provision, attach config vars (a new release), destroy.

Every step that spans the provider and the state database is ordered so that a crash between
two steps leaves a row saying how far it got, and the next start finishes or undoes it
(`resolve_interrupted`):

    create   row `provisioning` → provider provisions → [attach release + row `provisioned`]
    destroy  [detach release + row `deprovisioning`] → provider deprovisions → row deleted

A `provisioning` row found at start is rolled back (the provider deprovisions by the add-on's
name, even when it had not answered yet); a `deprovisioning` one is finished.
"""

from __future__ import annotations

import contextlib
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.crashpoints import crash_point
from common.errors import PaasError, invalid, not_found
from paas.addons.base import AddonProvider, Provisioned
from paas.control import ControlPlane, iso
from paas.control.events import AddonUpdated, publish
from paas.control.releases import ReleasePath
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
ATTACHMENT = re.compile(r"[A-Z][A-Z0-9_]*")


class AddonService:
    def __init__(
        self,
        control: ControlPlane,
        releases: ReleasePath,
        providers: list[AddonProvider],
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.control = control
        self.store = control.store
        self.releases = releases
        self.report_error = report_error
        self.providers: dict[str, AddonProvider] = {}
        for provider in providers:
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
        provider = self.providers.get(service)
        if provider is None:
            known = ", ".join(sorted({p.service for p in self.providers.values()})) or "none"
            raise PaasError(
                404,
                "not_found",
                f"Couldn't find either the add-on service or the add-on plan {spec!r}. Services: {known}.",
            )
        plan = plan or provider.default_plan
        if plan not in provider.plans:
            raise invalid(
                f"Plan {plan!r} is not a {provider.service} plan. Plans: {', '.join(provider.plans)}."
            )
        return provider, plan

    def addon_json(self, addon: Addon, app_name: str) -> dict[str, Any]:
        return {
            "id": addon.id,
            "name": addon.name,
            "app": {"id": addon.app_id, "name": app_name},
            "addon_service": {"id": _stable_id("addon-service", addon.service), "name": addon.service},
            "plan": {
                "id": _stable_id("plan", addon.service, addon.plan),
                "name": f"{addon.service}:{addon.plan}",
                "price": {"cents": 0, "contract": False, "unit": "month"},  # local: free
            },
            "state": addon.state,
            "config_vars": list(addon.config_vars or []),
            "attachment": addon.attachment,  # paas: the one attachment's name (DATABASE, ...)
            "provider_id": addon.id,
            "actions": [],  # no provider actions (SSO links) locally
            "billed_price": {"cents": 0, "contract": False, "unit": "month"},
            "billing_entity": {"id": addon.app_id, "name": app_name, "type": "app"},
            "web_url": None,
            "created_at": iso(addon.created_at),
            "updated_at": iso(addon.updated_at),
        }

    def list(self, app: str | None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            query = select(Addon, App.name).join(App, App.id == Addon.app_id).order_by(Addon.name)
            if app is not None:
                app_row = self.store.app(s, app)
                query = query.where(Addon.app_id == app_row.id)
            return [self.addon_json(a, name) for a, name in s.execute(query)]

    def _find(self, app: str, ident: str) -> tuple[Addon, str]:
        with self.store.session() as s:
            app_row = self.store.app(s, app)
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
        the app gets the values under the add-on's attachment names in one new release (no
        release phase, as for attach), or none when it holds them already."""
        with self.store.session() as s:
            row = s.scalar(select(Addon).where(Addon.name == addon_name))
            app_row = s.get(App, row.app_id) if row is not None else None
            if row is None or app_row is None:
                raise not_found("add-on")
            app_name, attachment, service = app_row.name, row.attachment, row.service
        provider = self.providers.get(service)
        renamed = attachment_vars(
            provider.attachment if provider is not None else attachment, attachment, config
        )
        current = self.store.config(app_name)
        changes = {k: v for k, v in renamed.items() if current.get(k) != v}
        if changes:
            await self.releases.update_config(
                app_name, changes, f"Update {attachment} by {service}", by_addon=True
            )

    # ---- create -------------------------------------------------------------------------------
    async def create(
        self, app: str, spec: str, name: str | None = None, attachment: str | None = None
    ) -> dict[str, Any]:
        provider, plan = self.resolve(spec)
        addon_id, app_name, name, attachment = self._insert(app, provider, plan, name, attachment)
        crash_point("addon.after_row")
        provisioned = await self._provision(addon_id, provider, app_name, name, plan)
        crash_point("addon.after_provision")
        config_vars = attachment_vars(provider.attachment, attachment, provisioned.config)

        def attach(s: Session) -> None:
            row = s.get(Addon, addon_id)
            if row is not None:
                row.state = "provisioned"
                row.config_vars = sorted(config_vars)
                row.provider_data = provisioned.provider_data

        try:
            if config_vars:
                description = f"Attach {attachment} ({name})"
                await self.releases.update_config(
                    app_name, dict(config_vars), description, by_addon=True, with_release=attach
                )
            with self.store.session() as s:
                attach(s)  # already done when a release was made; no release when nothing changed
        except BaseException:
            await self._undo(addon_id, provider, name, provisioned.provider_data)
            raise
        publish(self.control.bus, AddonUpdated(app_name, name, provider.service, plan, "provisioned"))
        addon_row, _ = self._find(app_name, name)
        return self.addon_json(addon_row, app_name)

    def _insert(
        self, app: str, provider: AddonProvider, plan: str, name: str | None, attachment: str | None
    ) -> tuple[str, str, str, str]:
        """The add-on's row, `provisioning`: (id, app name, add-on name, attachment)."""
        with self.store.session() as s:
            app_row = self.store.app(s, app)
            taken = {a.attachment for a in s.scalars(select(Addon).where(Addon.app_id == app_row.id))}
            attachment = _attachment(provider, attachment, taken, dict(app_row.config or {}), app_row.name)
            name = _addon_name(provider, name)
            if s.scalar(select(Addon.id).where(Addon.name == name)):
                raise invalid(f"Add-on name {name} is already taken.")
            addon_id = new_id()
            s.add(
                Addon(
                    id=addon_id,
                    app_id=app_row.id,
                    name=name,
                    service=provider.service,
                    plan=plan,
                    attachment=attachment,
                    state="provisioning",
                )
            )
            return addon_id, app_row.name, name, attachment

    async def _provision(
        self, addon_id: str, provider: AddonProvider, app: str, name: str, plan: str
    ) -> Provisioned:
        try:
            return await provider.provision(app, name, plan)
        except PaasError:
            await self._undo(addon_id, provider, name, {})
            raise
        except Exception as exc:
            await self._undo(addon_id, provider, name, {})
            raise PaasError(500, "provision_failed", f"Provisioning {name} failed: {exc}") from exc

    async def _undo(
        self, addon_id: str, provider: AddonProvider, name: str, provider_data: dict[str, Any]
    ) -> None:
        """Provisioning failed part way: whatever the provider made goes, then the row."""
        with contextlib.suppress(Exception):
            await provider.deprovision(name, provider_data)
        self._delete_row(addon_id)

    def _delete_row(self, addon_id: str) -> None:
        with self.store.session() as s:
            row = s.get(Addon, addon_id)
            if row is not None:
                s.delete(row)

    # ---- destroy ------------------------------------------------------------------------------
    async def destroy(self, app: str, ident: str) -> dict[str, Any]:
        """Detach (its config vars leave the app in a new release), then deprovision."""
        addon, app_name = self._find(app, ident)
        data = self.addon_json(addon, app_name)
        data["state"] = "deprovisioned"
        addon_id = addon.id

        def detach(s: Session) -> None:
            row = s.get(Addon, addon_id)
            if row is not None:
                row.state = "deprovisioning"

        if addon.config_vars:
            removals: dict[str, Any] = {k: None for k in addon.config_vars}
            description = f"Detach {addon.attachment} ({addon.name})"
            await self.releases.update_config(
                app_name, removals, description, by_addon=True, with_release=detach
            )
        with self.store.session() as s:
            detach(s)  # already done when a release was made; no release when no var was left
        crash_point("addon.after_detach")
        await self._deprovision(addon)
        publish(
            self.control.bus, AddonUpdated(app_name, addon.name, addon.service, addon.plan, "deprovisioned")
        )
        return data

    async def _deprovision(self, addon: Addon) -> None:
        """The provider's part, then the row (a crash between them: the next start redoes both)."""
        provider = self.providers.get(addon.service)
        if provider is not None:
            await provider.deprovision(addon.name, dict(addon.provider_data or {}))
        crash_point("addon.after_deprovision")
        self._delete_row(addon.id)

    async def destroy_all(self, app: str) -> None:
        """The app is being destroyed: every add-on goes, row by row (no releases: the app goes too)."""
        with self.store.session() as s:
            app_row = self.store.app(s, app)
            rows = list(s.scalars(select(Addon).where(Addon.app_id == app_row.id)))
        for addon in rows:
            await self._deprovision(addon)

    # ---- after a crash --------------------------------------------------------------------------
    async def resolve_interrupted(self) -> int:
        """At start: add-ons a dead daemon left half made are rolled back, half destroyed ones
        finished. Returns how many were resolved; one that cannot be (its provider fails) stays
        for the next start, and the error is reported."""
        with self.store.session() as s:
            query = select(Addon, App.name).join(App, App.id == Addon.app_id)
            rows = [
                (a, n) for a, n in s.execute(query.where(Addon.state.in_(("provisioning", "deprovisioning"))))
            ]
        resolved = 0
        for addon, app in rows:
            try:
                await self._deprovision(addon)
            except Exception as exc:
                self.report_error(exc)
                continue
            resolved += 1
            if addon.state == "provisioning":
                line = f"Add-on {addon.name} was rolled back: the paas daemon stopped while provisioning it"
            else:
                line = f"Add-on {addon.name} destroyed: the paas daemon stopped while destroying it"
            self.control.logs.api_line(app, line)
        return resolved


def _stable_id(*parts: str) -> str:
    """An id for what has no row of its own (a service, a plan): the same on every answer."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "paas:" + ":".join(parts)))


def _attachment(
    provider: AddonProvider, attachment: str | None, taken: set[str], config: dict[str, Any], app: str
) -> str:
    if attachment is None:
        attachment = provider.attachment
        if attachment in taken or f"{attachment}_URL" in config:
            attachment = f"HEROKU_{provider.attachment}_{random.choice(_WORDS).upper()}"
        return attachment
    if not ATTACHMENT.fullmatch(attachment) or attachment in taken:
        raise invalid(f"Attachment name {attachment!r} is invalid or already used on {app}.")
    return attachment


def _addon_name(provider: AddonProvider, name: str | None) -> str:
    if name is None:
        return f"{provider.name_prefix}-{random.choice(_WORDS)}-{random.randint(10000, 99999)}"
    if not re.fullmatch(r"[a-z][a-z0-9-]{2,60}", name):
        raise invalid(
            "Add-on names are 3 to 61 lowercase letters, digits and dashes, starting with a letter."
        )
    return name


def attachment_vars(provider_prefix: str, attachment: str, config: dict[str, str]) -> dict[str, str]:
    """The provider names vars after its own attachment (REDIS_URL); the add-on's attachment
    may be another (HEROKU_REDIS_RED_URL, CACHE_URL)."""
    return {
        attachment + key[len(provider_prefix) :] if key.startswith(provider_prefix) else key: value
        for key, value in config.items()
    }
