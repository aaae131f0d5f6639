"""pg:backups over Heroku's data API paths (`/client/v11/...`), and the public backup links.

Transfers are addressed per app by number (`b001` is transfer 1); databases by add-on name
or id. `/pgbackups/<id>.dump` needs no token: its signature and expiry are the secret.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from common.errors import PaasError, invalid
from paas.addons.pgbackups.transfers import parse_name, transfer_name
from paas.api.deps import Svc

router = APIRouter()
MAX_NUM = 10**9  # transfer numbers beyond this are no one's (and would overflow SQLite's INTEGER)


class RestoreBody(BaseModel):
    backup_url: str | None = None  # a link from pg:backups:url, or a backup's to_url
    backup: str | None = None  # b001, or app::b001; none: the app's latest backup
    app: str | None = None  # the app the DATABASE attachment name is looked up in


class ScheduleBody(BaseModel):
    at: str | None = None  # '02:00 UTC'
    hour: str | int | None = None  # Heroku's CLI sends hour and timezone
    timezone: str | None = None
    schedule_name: str | None = None
    app: str | None = None


class CaptureBody(BaseModel):
    app: str | None = None


def _num(ident: str) -> int:
    num = int(ident) if ident.isascii() and ident.isdigit() else parse_name(ident)
    if num is None or num > MAX_NUM:
        raise invalid(f"Invalid Backup: {ident}")
    return num


@router.get("/client/v11/apps/{app}/transfers")
async def transfers(svc: Svc, app: str) -> list[dict[str, Any]]:
    return svc.pgbackups.transfers(app)


@router.get("/client/v11/apps/{app}/transfers/{num}")
async def transfer(svc: Svc, app: str, num: str, verbose: bool = False) -> dict[str, Any]:
    return svc.pgbackups.get(app, _num(num), verbose)


@router.delete("/client/v11/apps/{app}/transfers/{num}")
async def delete_transfer(svc: Svc, app: str, num: str) -> dict[str, Any]:
    return svc.pgbackups.delete(app, _num(num))


@router.post("/client/v11/apps/{app}/transfers/{num}/actions/public-url")
async def public_url(svc: Svc, app: str, num: str) -> dict[str, Any]:
    return svc.pgbackups.public_url(app, _num(num))


@router.post("/client/v11/apps/{app}/transfers/{transfer}/actions/cancel")
async def cancel(svc: Svc, app: str, transfer: str) -> dict[str, Any]:
    """By uuid (Heroku's CLI), number or name."""
    return svc.pgbackups.cancel(app, transfer)


@router.post("/client/v11/databases/{database}/backups", status_code=201)
async def capture(svc: Svc, database: str, body: CaptureBody | None = None) -> dict[str, Any]:
    return await svc.pgbackups.capture(database, body.app if body else None)


@router.post("/client/v11/databases/{database}/restores", status_code=201)
async def restore(svc: Svc, database: str, body: RestoreBody) -> dict[str, Any]:
    return await svc.pgbackups.restore(database, body.app, body.backup, body.backup_url)


@router.get("/client/v11/databases/{database}/transfer-schedules")
async def schedules(svc: Svc, database: str, app: str | None = None) -> list[dict[str, Any]]:
    return svc.pgbackup_schedules.of(database, app)


@router.post("/client/v11/databases/{database}/transfer-schedules", status_code=201)
async def schedule(svc: Svc, database: str, body: ScheduleBody) -> dict[str, Any]:
    at = body.at
    if at is None and body.hour is not None:
        at = f"{body.hour}:00 {body.timezone or 'UTC'}"
    if at is None:
        raise invalid("Say when: at ('02:00 UTC'), or hour and timezone.")
    return svc.pgbackup_schedules.add(database, at, body.app)


@router.delete("/client/v11/databases/{database}/transfer-schedules/{schedule_id}")
async def unschedule(svc: Svc, database: str, schedule_id: str, app: str | None = None) -> dict[str, Any]:
    return svc.pgbackup_schedules.remove(database, schedule_id, app)


@router.get("/pgbackups/{name}", response_model=None)
async def download(svc: Svc, name: str, expires: str = Query(""), signature: str = Query("")) -> FileResponse:
    """The archive behind a pg:backups:url link: 403 without a valid, unexpired signature."""
    transfer_id = name.removesuffix(".dump")
    if not svc.pgbackups.links.valid(transfer_id, expires, signature):
        raise PaasError(403, "forbidden", "Request has expired or its signature does not match.")
    row = svc.pgbackups.archive(transfer_id)
    return FileResponse(
        row.path or "",
        media_type="application/octet-stream",
        filename=f"{transfer_name(row)}.dump",
        headers={"Cache-Control": "no-store"},
    )
