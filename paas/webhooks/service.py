"""App webhooks: subscriptions in the state database, notifications from the bus, signed
deliveries with retries.

A bus event an app's webhook includes becomes one `WebhookEvent` and one `Delivery` per
webhook. Each delivery POSTs Heroku's JSON payload, signed in `Heroku-Webhook-Hmac-SHA256`
(base64 of the HMAC-SHA256 of the exact body with the webhook's secret). `notify` webhooks
get one attempt; `sync` ones are retried, the delay doubling from `webhook_retry_base`
(capped at an hour), up to `SYNC_ATTEMPTS`. At most `MAX_IN_FLIGHT` deliveries per webhook
are under way; more fail at once (counted), so a dead receiver holds bounded memory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from common.ca import LocalCA
from common.config import Settings
from common.errors import invalid, not_found
from common.events import Event, EventBus
from paas.control import USER, ControlPlane, iso
from paas.state.models import App
from paas.webhooks.entities import ENTITIES, KINDS, Notice, describe
from paas.webhooks.models import AppWebhook
from paas.webhooks.records import Attempt, Delivery, Kept, WebhookEvent, now

SYNC_ATTEMPTS = 8
RETRY_MAX = 3600.0
ATTEMPT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_IN_FLIGHT = 100
MAX_WEBHOOKS_PER_APP = 10
LEVELS = ("notify", "sync")
VERSION = "application/vnd.heroku+json; version=3"


@dataclass(frozen=True)
class WebhookInfo:
    id: str
    app: str
    app_id: str
    url: str
    include: tuple[str, ...]
    level: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class _Hook:
    info: WebhookInfo
    secret: str
    authorization: str | None


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def check_url(url: str) -> str:
    url = url.strip()
    scheme, host = "", None
    try:
        parts = urlsplit(url)
        scheme, host, _port = parts.scheme, parts.hostname, parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        host = None
    if scheme not in ("http", "https") or not host or len(url) > 2048 or any(c.isspace() for c in url):
        raise invalid("url must be an http:// or https:// URL with a host.")
    return url


def check_include(include: list[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(i.strip() for i in include if i.strip()))
    unknown = [i for i in wanted if i not in ENTITIES]
    if not wanted or unknown:
        raise invalid(f"include must name entities among {', '.join(ENTITIES)}.")
    return wanted


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise invalid("level must be notify or sync.")
    return level


class WebhookService:
    def __init__(self, control: ControlPlane, bus: EventBus, ca: LocalCA, settings: Settings):
        self.control = control
        self.store = control.store
        self.bus = bus
        self.settings = settings
        self._hooks: dict[str, list[_Hook]] = {}  # by app name: who to tell, without a query
        self._events: dict[str, Kept[WebhookEvent]] = {}
        self._deliveries: dict[str, Kept[Delivery]] = {}
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unlisten: Callable[[], None] | None = None
        tls = ca.client_context()
        tls.load_default_certs()
        self._http = httpx.AsyncClient(verify=tls, timeout=ATTEMPT_TIMEOUT, follow_redirects=False)
        self.overflowed = 0

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._reload()
        self._unlisten = self.bus.listen([*KINDS, "app.destroyed", "app.created"], self._on_event)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()

    def _reload(self) -> None:
        hooks: dict[str, list[_Hook]] = {}
        with self.store.session() as s:
            for row, app in s.execute(select(AppWebhook, App).join(App, App.id == AppWebhook.app_id)).all():
                hooks.setdefault(app.name, []).append(_hook(row, app.name))
        self._hooks = hooks

    # ---- the webhooks of an app ----------------------------------------------------------
    def of_app(self, app: str) -> list[WebhookInfo]:
        name = self.control.get_app(app).name
        return [h.info for h in self._hooks.get(name, [])]

    def get(self, app: str, webhook_id: str) -> WebhookInfo:
        for info in self.of_app(app):
            if info.id == webhook_id:
                return info
        raise not_found("webhook")

    def add(
        self,
        app: str,
        url: str,
        include: list[str],
        level: str,
        secret: str | None,
        authorization: str | None,
    ) -> tuple[WebhookInfo, str]:
        """A new webhook, and its secret (generated when none is given: shown once)."""
        url, wanted, level = check_url(url), check_include(include), check_level(level)
        secret = secret or secrets.token_hex(32)
        with self.store.session() as s:
            row_app = self.store.app(s, app)
            count = len(list(s.scalars(select(AppWebhook.id).where(AppWebhook.app_id == row_app.id))))
            if count >= MAX_WEBHOOKS_PER_APP:
                raise invalid(f"An app can have at most {MAX_WEBHOOKS_PER_APP} webhooks.")
            row = AppWebhook(
                app_id=row_app.id,
                url=url,
                include=list(wanted),
                level=level,
                secret=secret,
                authorization=authorization or None,
            )
            s.add(row)
            s.flush()
            info = _hook(row, row_app.name).info
        self._reload()
        return info, secret

    def update(
        self,
        app: str,
        webhook_id: str,
        url: str | None = None,
        include: list[str] | None = None,
        level: str | None = None,
        secret: str | None = None,
        authorization: str | None = None,
    ) -> WebhookInfo:
        self.get(app, webhook_id)
        with self.store.session() as s:
            row = s.get(AppWebhook, webhook_id)
            if row is None:
                raise not_found("webhook")
            if url is not None:
                row.url = check_url(url)
            if include is not None:
                row.include = list(check_include(include))
            if level is not None:
                row.level = check_level(level)
            if secret:
                row.secret = secret
            if authorization is not None:
                row.authorization = authorization or None
        self._reload()
        return self.get(app, webhook_id)

    def remove(self, app: str, webhook_id: str) -> WebhookInfo:
        info = self.get(app, webhook_id)
        with self.store.session() as s:
            row = s.get(AppWebhook, webhook_id)
            if row is not None:
                s.delete(row)
        self._reload()
        return info

    def events(self, app: str) -> list[WebhookEvent]:
        name = self.control.get_app(app).name
        kept = self._events.get(name)
        return kept.values() if kept else []

    def event(self, app: str, event_id: str) -> WebhookEvent:
        found = self._events.get(self.control.get_app(app).name)
        item = found.get(event_id) if found else None
        if item is None:
            raise not_found("webhook event")
        return item

    def deliveries(self, app: str) -> list[Delivery]:
        name = self.control.get_app(app).name
        kept = self._deliveries.get(name)
        return kept.values() if kept else []

    def delivery(self, app: str, delivery_id: str) -> Delivery:
        found = self._deliveries.get(self.control.get_app(app).name)
        item = found.get(delivery_id) if found else None
        if item is None:
            raise not_found("webhook delivery")
        return item

    # ---- from bus events to deliveries ---------------------------------------------------
    def _on_event(self, event: Event) -> None:
        app = event.app
        if app is None:
            return
        if event.kind == "app.destroyed":
            self._hooks.pop(app, None)
            self._events.pop(app, None)
            self._deliveries.pop(app, None)
            return
        if event.kind == "app.created":  # a renamed app keeps its webhooks under its new name
            self._reload()
            return
        hooks = self._hooks.get(app)
        if not hooks:
            return  # the common case: no query, no payload
        notice = describe(self.control, event)
        if notice is None:
            return
        targets = [h for h in hooks if notice.include in h.info.include]
        if targets:
            self._notify(app, notice, targets)

    def _notify(self, app: str, notice: Notice, hooks: list[_Hook]) -> None:
        record = WebhookEvent(
            str(uuid.uuid4()), app, notice.include, notice.resource, notice.action, notice.data
        )
        self._events.setdefault(app, Kept()).add(record.id, record)
        for hook in hooks:
            delivery = Delivery(str(uuid.uuid4()), app, hook.info.id, hook.info.level, record)
            self._deliveries.setdefault(app, Kept()).add(delivery.id, delivery)
            if self._in_flight.get(hook.info.id, 0) >= MAX_IN_FLIGHT:
                self.overflowed += 1
                delivery.status = "failed"
                delivery.updated_at = now()
                continue
            self._in_flight[hook.info.id] = self._in_flight.get(hook.info.id, 0) + 1
            task = asyncio.get_running_loop().create_task(self._deliver(hook, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: _Hook, delivery: Delivery) -> None:
        attempts = SYNC_ATTEMPTS if hook.info.level == "sync" else 1
        delay = max(self.settings.webhook_retry_base, 0.01)
        try:
            for number in range(1, attempts + 1):
                if await self._attempt(hook, delivery):
                    return
                if number == attempts:
                    break
                delivery.status = "retrying"
                delivery.next_attempt_at = now() + timedelta(seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            delivery.status = "failed"
            delivery.next_attempt_at = None
            delivery.updated_at = now()
        finally:
            self._in_flight[hook.info.id] -= 1

    async def _attempt(self, hook: _Hook, delivery: Delivery) -> bool:
        attempt_id = str(uuid.uuid4())
        started = now()
        body = json.dumps(payload(delivery, hook.info, attempt_id)).encode()
        headers = {
            "Content-Type": "application/json",
            "Heroku-Webhook-Hmac-SHA256": sign(hook.secret, body),
            "Heroku-Webhook-Id": delivery.id,
            "User-Agent": "paas-webhooks",
        }
        if hook.authorization:
            headers["Authorization"] = hook.authorization
        code: int | None = None
        error: str | None = None
        try:
            response = await self._http.post(hook.info.url, content=body, headers=headers)
            code = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            error = exc.__class__.__name__
        ok = code is not None and 200 <= code < 300
        delivery.num_attempts += 1
        delivery.last_attempt = Attempt(
            attempt_id, code, error, "succeeded" if ok else "failed", started, now()
        )
        delivery.updated_at = now()
        if ok:
            delivery.status = "succeeded"
            delivery.next_attempt_at = None
        return ok


def _hook(row: AppWebhook, app: str) -> _Hook:
    info = WebhookInfo(
        row.id, app, row.app_id, row.url, tuple(row.include or ()), row.level, row.created_at, row.updated_at
    )
    return _Hook(info, row.secret, row.authorization)


def event_payload(event: WebhookEvent) -> dict[str, Any]:
    """The `payload` of an app-webhook-event (and the body's common part)."""
    return {
        "action": event.action,
        "actor": {"email": USER, "id": USER},
        "data": event.data,
        "previous_data": {},
        "resource": event.resource,
        "version": VERSION,
    }


def payload(delivery: Delivery, hook: WebhookInfo, attempt_id: str) -> dict[str, Any]:
    """The body of one delivery attempt, in Heroku's shape."""
    event = delivery.event
    stamp = iso(event.created_at)
    return {
        "id": event.id,
        "created_at": stamp,
        "updated_at": stamp,
        "published_at": iso(now()),
        "sequence": None,
        **event_payload(event),
        "webhook_metadata": {
            "attempt": {"id": attempt_id},
            "delivery": {"id": delivery.id},
            "event": {"id": event.id, "include": event.include},
            "webhook": {"id": hook.id},
        },
    }
