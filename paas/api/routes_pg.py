"""Postgres add-on endpoints behind pg:info, pg:credentials:url, pg:reset and pg:psql."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from common.errors import PaasError, not_found
from paas.api.app import daemon_of

if TYPE_CHECKING:
    from paas.addons.postgres import PostgresProvider

router = APIRouter()
SERVICE = "heroku-postgresql"


def _provider(request: Request) -> PostgresProvider:
    provider = daemon_of(request).addons.providers.get(SERVICE)
    if provider is None:
        raise PaasError(
            503, "postgres_unavailable", "The Postgres add-on provider is not part of this daemon."
        )
    return provider  # type: ignore[return-value]


def _addon(request: Request, app: str, ident: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ident = ident[:-4] if ident.upper().endswith("_URL") else ident
    addon, data = daemon_of(request).addons.provider_data(app, ident)
    if addon["addon_service"]["name"] != SERVICE:
        raise not_found("Postgres database")
    return addon, data


def _pg_addons(request: Request, app: str) -> list[dict[str, Any]]:
    addons = [a for a in daemon_of(request).addons.list(app) if a["addon_service"]["name"] == SERVICE]
    # the DATABASE attachment first, as Heroku lists the primary database first
    return sorted(addons, key=lambda a: (a["attachment"] != "DATABASE", a["name"]))


async def _info(request: Request, addon: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    info = await _provider(request).info(data)
    return {"addon": addon, "attachment": addon["attachment"], "config_vars": addon["config_vars"], **info}


@router.get("/apps/{app}/pg")
async def pg_list(request: Request, app: str) -> list[dict[str, Any]]:
    results = []
    for addon in _pg_addons(request, app):
        _, data = _addon(request, app, addon["name"])
        results.append(await _info(request, addon, data))
    return results


@router.get("/apps/{app}/pg/{addon}")
async def pg_info(request: Request, app: str, addon: str) -> dict[str, Any]:
    row, data = _addon(request, app, addon)
    return await _info(request, row, data)


@router.get("/apps/{app}/pg/{addon}/credentials")
async def pg_credentials(request: Request, app: str, addon: str) -> dict[str, Any]:
    from paas.postgres.databases import url_of

    row, data = _addon(request, app, addon)
    await _provider(request).cluster.start()
    return {
        "addon": row["name"],
        "attachment": row["attachment"],
        "url": url_of(data),
        "host": data["host"],
        "port": data["port"],
        "database": data["database"],
        "user": data["user"],
        "password": data["password"],
    }


@router.post("/apps/{app}/pg/{addon}/reset")
async def pg_reset(request: Request, app: str, addon: str) -> dict[str, Any]:
    row, data = _addon(request, app, addon)
    await _provider(request).reset(data)
    daemon_of(request).logs.api_line(row["app"]["name"], f"Reset {row['name']} by user local@paas")
    return {"addon": row["name"], "reset": True}
