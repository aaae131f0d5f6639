"""App webhooks (Platform API `app-webhook`, `app-webhook-delivery`, `app-webhook-event`).

GET/POST /apps/{app}/webhooks · GET/PATCH/DELETE /apps/{app}/webhooks/{id}
GET /apps/{app}/webhook-deliveries[/{id}] · GET /apps/{app}/webhook-events[/{id}]
A webhook's secret is never shown again; one the daemon generated is returned once, in the
`Heroku-Webhook-Secret` header of the creating response.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc
from paas.control import iso
from paas.webhooks.records import Delivery, WebhookEvent
from paas.webhooks.service import WebhookInfo, event_payload

router = APIRouter()


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    include: list[str]
    level: str
    secret: str | None = None
    authorization: str | None = None


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str | None = None
    include: list[str] | None = None
    level: str | None = None
    secret: str | None = None
    authorization: str | None = None


def webhook_json(w: WebhookInfo) -> dict[str, Any]:
    return {
        "id": w.id,
        "app": {"id": w.app_id, "name": w.app},
        "url": w.url,
        "include": list(w.include),
        "level": w.level,
        "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at),
    }


def event_json(e: WebhookEvent) -> dict[str, Any]:
    stamp = iso(e.created_at)
    return {
        "id": e.id,
        "include": e.include,
        "payload": event_payload(e),
        "created_at": stamp,
        "updated_at": stamp,
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    last = d.last_attempt
    return {
        "id": d.id,
        "event": {"id": d.event.id, "include": d.event.include},
        "webhook": {"id": d.webhook_id, "level": d.level},
        "status": d.status,
        "num_attempts": d.num_attempts,
        "next_attempt_at": iso(d.next_attempt_at),
        "last_attempt": None
        if last is None
        else {
            "id": last.id,
            "code": last.code,
            "error_class": last.error_class,
            "status": last.status,
            "created_at": iso(last.created_at),
            "updated_at": iso(last.updated_at),
        },
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


@router.get("/apps/{app}/webhooks")
async def list_webhooks(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [webhook_json(w) for w in svc.webhooks.of_app(app)]


@router.post("/apps/{app}/webhooks", status_code=201)
async def add_webhook(svc: Svc, app: str, body: WebhookCreate, response: Response) -> dict[str, Any]:
    info, secret = svc.webhooks.add(app, body.url, body.include, body.level, body.secret, body.authorization)
    if not body.secret:
        response.headers["Heroku-Webhook-Secret"] = secret
    return webhook_json(info)


@router.get("/apps/{app}/webhooks/{webhook_id}")
async def get_webhook(svc: Svc, app: str, webhook_id: str) -> dict[str, Any]:
    return webhook_json(svc.webhooks.get(app, webhook_id))


@router.patch("/apps/{app}/webhooks/{webhook_id}")
async def update_webhook(svc: Svc, app: str, webhook_id: str, body: WebhookUpdate) -> dict[str, Any]:
    info = svc.webhooks.update(
        app, webhook_id, body.url, body.include, body.level, body.secret, body.authorization
    )
    return webhook_json(info)


@router.delete("/apps/{app}/webhooks/{webhook_id}")
async def remove_webhook(svc: Svc, app: str, webhook_id: str) -> dict[str, Any]:
    return webhook_json(svc.webhooks.remove(app, webhook_id))


@router.get("/apps/{app}/webhook-deliveries")
async def list_deliveries(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [delivery_json(d) for d in svc.webhooks.deliveries(app)]


@router.get("/apps/{app}/webhook-deliveries/{delivery_id}")
async def get_delivery(svc: Svc, app: str, delivery_id: str) -> dict[str, Any]:
    return delivery_json(svc.webhooks.delivery(app, delivery_id))


@router.get("/apps/{app}/webhook-events")
async def list_events(svc: Svc, app: str) -> list[dict[str, Any]]:
    return [event_json(e) for e in svc.webhooks.events(app)]


@router.get("/apps/{app}/webhook-events/{event_id}")
async def get_event(svc: Svc, app: str, event_id: str) -> dict[str, Any]:
    return event_json(svc.webhooks.event(app, event_id))
