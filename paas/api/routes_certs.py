"""The local certificate authority over HTTP: `GET /certs/authority` (path, PEM, how to trust it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from paas.api.app import daemon_of

router = APIRouter()


@router.get("/certs/authority")
async def authority(request: Request) -> dict[str, Any]:
    ca = daemon_of(request).ca
    return {"path": str(ca.cert_path), "pem": ca.ca_pem, "instructions": ca.trust_instructions()}
