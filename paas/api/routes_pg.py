"""Postgres add-on endpoints behind pg:info, pg:credentials:url, pg:reset and pg:psql."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from common.errors import not_found
from paas.api.deps import Services, Svc
from paas.api.pg_rows import info_rows
from paas.postgres.databases import url_of

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
    return {
        "addon": addon,
        "attachment": addon["attachment"],
        "config_vars": addon["config_vars"],
        **info,
        "info": info_rows(addon, info),  # the rows pg:info prints (Heroku's data API shape)
    }


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


# ---- the part of Heroku's data API (HEROKU_DATA_HOST) that `heroku pg:info` reads -----------
@router.get("/client/v11/databases/{addon}")
async def data_api_database(svc: Svc, addon: str) -> dict[str, Any]:
    """One database by add-on id or name, in the data API's shape: `info` rows, the plan,
    `resource_url` (the URL the app's config holds, which the CLI maps back to config vars)."""
    for row in svc.addons.list(None):
        if addon in (row["id"], row["name"]) and row["addon_service"]["name"] == SERVICE:
            found, data = _addon(svc, row["app"]["name"], row["name"])
            info = await svc.postgres.info(data)
            return {
                "id": found["id"],
                "name": found["name"],
                "plan": found["plan"]["name"],
                "resource_url": url_of(data),
                "info": info_rows(found, info),
                "following": None,
                "followers": [],
                "leader": None,
                "waiting?": False,
                "num_tables": info["tables"],
                "num_bytes": info["data_size"],
                "postgres_version": info["pg_version"],
                "created_at": found["created_at"],
            }
    raise not_found("database")
