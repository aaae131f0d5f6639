"""webhooks, webhooks:add, webhooks:info, webhooks:update, webhooks:remove, webhooks:deliveries,
webhooks:events (as the heroku CLI prints them)."""

from __future__ import annotations

import secrets
from typing import Any

import click

from paas.cli.client import Client
from paas.cli.main import app_option, json_option, resolve_app
from paas.cli.ui import APP_GLYPH, action, echo, header, key_values, print_json, table


def _include(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _code(delivery: dict[str, Any]) -> str:
    last = delivery.get("last_attempt") or {}
    return str(last.get("code") or "")


def register(cli: click.Group) -> None:
    _register_webhooks(cli)
    _register_changes(cli)
    _register_history(cli)


def _register_webhooks(cli: click.Group) -> None:
    @cli.command("webhooks")
    @app_option()
    @json_option()
    def webhooks(app: str | None, as_json: bool) -> None:
        """List webhooks on an app."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/webhooks")
        if as_json:
            print_json(data)
            return
        if not data:
            echo(f"{APP_GLYPH} {name} has no webhooks")
            echo("Use paas webhooks:add to add one.")
            return
        rows = [(w["id"], w["url"], ",".join(w["include"]), w["level"]) for w in data]
        table(rows, ["Webhook ID", "URL", "Include", "Level"])

    @cli.command("webhooks:add")
    @click.option("-i", "--include", "include", required=True, help="comma delimited event types")
    @click.option("-l", "--level", type=click.Choice(["notify", "sync"]), required=True)
    @click.option("-u", "--url", required=True, help="URL for receiver")
    @click.option(
        "-s", "--secret", default=None, help="value to sign delivery with in Heroku-Webhook-Hmac-SHA256"
    )
    @click.option("-t", "--authorization", default=None, help="Authorization header to send with webhooks")
    @app_option()
    def webhooks_add(
        include: str, level: str, url: str, secret: str | None, authorization: str | None, app: str | None
    ) -> None:
        """Add a webhook to an app."""
        name = resolve_app(app)
        generated = secret is None
        secret = secret or secrets.token_hex(32)
        body = {"include": _include(include), "level": level, "url": url, "secret": secret}
        if authorization:
            body["authorization"] = authorization
        with action(f"Adding webhook to {APP_GLYPH} {name}"):
            Client().post(f"/apps/{name}/webhooks", json=body)
        if generated:
            header("Webhook Signing Secret")
            echo(secret)

    @cli.command("webhooks:info")
    @click.argument("webhook_id")
    @app_option()
    @json_option()
    def webhooks_info(webhook_id: str, app: str | None, as_json: bool) -> None:
        """Info for a webhook on an app."""
        name = resolve_app(app)
        w = Client().get(f"/apps/{name}/webhooks/{webhook_id}")
        if as_json:
            print_json(w)
            return
        header(w["id"])
        key_values(
            [
                ("Webhook ID", w["id"]),
                ("URL", w["url"]),
                ("Include", ",".join(w["include"])),
                ("Level", w["level"]),
            ]
        )


def _register_changes(cli: click.Group) -> None:
    @cli.command("webhooks:update")
    @click.argument("webhook_id")
    @click.option("-i", "--include", "include", default=None)
    @click.option("-l", "--level", type=click.Choice(["notify", "sync"]), default=None)
    @click.option("-u", "--url", default=None)
    @click.option("-s", "--secret", default=None)
    @click.option("-t", "--authorization", default=None)
    @app_option()
    def webhooks_update(
        webhook_id: str,
        include: str | None,
        level: str | None,
        url: str | None,
        secret: str | None,
        authorization: str | None,
        app: str | None,
    ) -> None:
        """Update a webhook on an app."""
        name = resolve_app(app)
        body: dict[str, Any] = {"level": level, "url": url, "secret": secret, "authorization": authorization}
        if include is not None:
            body["include"] = _include(include)
        with action(f"Updating webhook {webhook_id} for {APP_GLYPH} {name}"):
            Client().patch(f"/apps/{name}/webhooks/{webhook_id}", json={k: v for k, v in body.items() if v})

    @cli.command("webhooks:remove")
    @click.argument("webhook_id")
    @app_option()
    def webhooks_remove(webhook_id: str, app: str | None) -> None:
        """Remove a webhook from an app."""
        name = resolve_app(app)
        with action(f"Removing webhook {webhook_id} from {APP_GLYPH} {name}"):
            Client().delete(f"/apps/{name}/webhooks/{webhook_id}")


def _register_history(cli: click.Group) -> None:
    @cli.command("webhooks:deliveries")
    @app_option()
    @json_option()
    def webhooks_deliveries(app: str | None, as_json: bool) -> None:
        """List webhook deliveries on an app (newest last)."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/webhook-deliveries")
        if as_json:
            print_json(data)
            return
        if not data:
            echo(f"{APP_GLYPH} {name} has no deliveries")
            return
        rows = [
            (
                d["id"],
                d["created_at"],
                d["status"],
                d["event"]["include"],
                d["webhook"]["level"],
                d["num_attempts"],
                _code(d),
                (d.get("last_attempt") or {}).get("error_class") or "",
                d["next_attempt_at"] or "",
            )
            for d in data
        ]
        columns = [
            "Delivery ID",
            "Created",
            "Status",
            "Include",
            "Level",
            "Attempts",
            "Code",
            "Error",
            "Next Attempt",
        ]
        table(rows, columns)

    @cli.command("webhooks:events")
    @app_option()
    @json_option()
    def webhooks_events(app: str | None, as_json: bool) -> None:
        """List webhook events on an app (newest last)."""
        name = resolve_app(app)
        data = Client().get(f"/apps/{name}/webhook-events")
        if as_json:
            print_json(data)
            return
        if not data:
            echo(f"{APP_GLYPH} {name} has no events")
            return
        rows = [(e["id"], e["include"], e["payload"]["action"], e["created_at"]) for e in data]
        table(rows, ["Event ID", "Resource", "Action", "Published At"])
