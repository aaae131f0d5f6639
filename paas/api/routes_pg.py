"""Postgres add-on endpoints behind pg:info, pg:credentials:url, pg:reset and pg:psql."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from common.errors import not_found
from paas.addons.postgres import url_of
from paas.api.deps import Services, Svc

router = APIRouter()
SERVICE = "heroku-postgresql"


def _addon(svc: Services, app: str, ident: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ident = ident[:-4] if ident.upper().endswith("_URL") else ident
    addon, data = svc.addons.provider_data(app, ident)
    if addon["addon_service"]["name"] != SERVICE:
        raise not_found("Postgres database")
    return addon, data


def _pg_addons(svc: Services, app: str) -> list[dict[str, Any]]:
    addons = [a for a in svc.addons.list(app) if a["addon_service"]["name"] == SERVICE]
    # the DATABASE attachment first, as Heroku lists the primary database first
    return sorted(addons, key=lambda a: (a["attachment"] != "DATABASE", a["name"]))


async def _info(svc: Services, addon: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    info = await svc.postgres.info(data)
    return {"addon": addon, "attachment": addon["attachment"], "config_vars": addon["config_vars"], **info}


@router.get("/apps/{app}/pg")
async def pg_list(svc: Svc, app: str) -> list[dict[str, Any]]:
    results = []
    for addon in _pg_addons(svc, app):
        _, data = _addon(svc, app, addon["name"])
        results.append(await _info(svc, addon, data))
    return results


@router.get("/apps/{app}/pg/{addon}")
async def pg_info(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, data = _addon(svc, app, addon)
    return await _info(svc, row, data)


@router.get("/apps/{app}/pg/{addon}/credentials")
async def pg_credentials(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, data = _addon(svc, app, addon)
    await svc.postgres.cluster.start()
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
async def pg_reset(svc: Svc, app: str, addon: str) -> dict[str, Any]:
    row, data = _addon(svc, app, addon)
    await svc.postgres.reset(data)
    svc.logs.api_line(row["app"]["name"], f"Reset {row['name']} by user local@paas")
    return {"addon": row["name"], "reset": True}
