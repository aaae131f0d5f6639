"""The local certificate authority over HTTP: `GET /certs/authority` (path, PEM, how to trust it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from paas.api.deps import Svc

router = APIRouter()


@router.get("/certs/authority")
async def authority(svc: Svc) -> dict[str, Any]:
    ca = svc.ca
    return {"path": str(ca.cert_path), "pem": ca.ca_pem, "instructions": ca.trust_instructions()}
