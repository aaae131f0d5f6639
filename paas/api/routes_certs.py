"""Certificates over HTTP: the local CA, ACM and SNI endpoints (the Platform API's shapes).

GET    /certs/authority                      the CA file's path, PEM, how to trust it
GET    /apps/{app}/sni-endpoints             uploaded certificates and ACM's (`paas certs`)
POST   /apps/{app}/sni-endpoints             {certificate_chain, private_key} (`certs:add`)
GET    /apps/{app}/sni-endpoints/{id|name}
DELETE /apps/{app}/sni-endpoints/{id|name}   (`certs:remove`)
GET    /apps/{app}/acm                       ACM on/off, its certificate, its domains (`certs:auto`)
POST   /apps/{app}/acm                       turn ACM on (`certs:auto:enable`)
DELETE /apps/{app}/acm                       turn ACM off (`certs:auto:disable`)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from paas.api.deps import Svc
from paas.certs.pem import CertDetails, read_details
from paas.certs.state import Endpoint
from paas.control import iso
from paas.control.values import AppInfo

router = APIRouter()


class SniEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate_chain: str
    private_key: str


@router.get("/certs/authority")
async def authority(svc: Svc) -> dict[str, Any]:
    ca = svc.ca
    return {"path": str(ca.cert_path), "pem": ca.ca_pem, "instructions": ca.trust_instructions()}


def cert_json(found: CertDetails, ca_subject: str) -> dict[str, Any]:
    return {
        "ca_signed?": not found.self_signed,
        "cert_domains": list(found.names),
        "starts_at": iso(found.starts_at),
        "expires_at": iso(found.expires_at),
        "issuer": found.issuer,
        "self_signed?": found.self_signed,
        "subject": found.subject,
        "id": f"{found.serial:x}",
        "local_ca_signed?": found.issuer == ca_subject,  # trusted by whoever trusts `paas certs:trust`
    }


def endpoint_json(svc: Svc, app: AppInfo, ep: Endpoint) -> dict[str, Any]:
    found = svc.certs.endpoint_details(ep)
    domains = [
        d.id for d in svc.control.list_domains(app.id) if d.id is not None and found.covers(d.hostname)
    ]
    return {
        "id": ep.id,
        "name": ep.name,
        "display_name": None,
        "app": {"id": app.id, "name": app.name},
        "certificate_chain": svc.certs.endpoint_chain(ep),
        "domains": domains,
        "ssl_cert": {**cert_json(found, _ca_subject(svc)), "acm": svc.certs.is_acm(ep)},
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


def _ca_subject(svc: Svc) -> str:
    return read_details(svc.ca.ca_pem.encode()).subject


@router.get("/apps/{app}/sni-endpoints")
async def list_endpoints(svc: Svc, app: str) -> list[dict[str, Any]]:
    info = svc.control.get_app(app)
    acm = svc.certs.acm_endpoint(info)  # Heroku lists ACM's certificate too (`Type: ACM`)
    listed = [*svc.certs.endpoints(info), *([acm] if acm is not None else [])]
    return [endpoint_json(svc, info, ep) for ep in listed]


@router.post("/apps/{app}/sni-endpoints", status_code=201)
async def add_endpoint(svc: Svc, app: str, body: SniEndpointCreate) -> dict[str, Any]:
    info = svc.control.get_app(app)
    ep = await svc.certs.add_endpoint(info, body.certificate_chain, body.private_key)
    return endpoint_json(svc, info, ep)


@router.get("/apps/{app}/sni-endpoints/{ident}")
async def get_endpoint(svc: Svc, app: str, ident: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    return endpoint_json(svc, info, svc.certs.endpoint(info, ident))


@router.delete("/apps/{app}/sni-endpoints/{ident}")
async def remove_endpoint(svc: Svc, app: str, ident: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    data = endpoint_json(svc, info, svc.certs.endpoint(info, ident))
    await svc.certs.remove_endpoint(info, ident)
    return data


def acm_json(svc: Svc, info: AppInfo) -> dict[str, Any]:
    cert = svc.certs.acm_certificate(info)
    domains = []
    for d in svc.control.list_domains(info.id):
        if d.kind == "custom":
            served = svc.certs.domain_cert(info, d.hostname)
            domains.append(
                {
                    "hostname": d.hostname,
                    "acm_status": served.acm_status,
                    "acm_status_reason": served.acm_status_reason,
                }
            )
    return {
        "app": {"id": info.id, "name": info.name},
        "acm": svc.certs.acm_enabled(info.id),
        "ssl_cert": cert_json(cert.details, _ca_subject(svc)) if cert is not None else None,
        "domains": domains,
    }


@router.get("/apps/{app}/acm")
async def acm_status(svc: Svc, app: str) -> dict[str, Any]:
    return acm_json(svc, svc.control.get_app(app))


@router.post("/apps/{app}/acm")
async def acm_enable(svc: Svc, app: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    await svc.certs.set_acm(info, True)
    return acm_json(svc, info)


@router.delete("/apps/{app}/acm")
async def acm_disable(svc: Svc, app: str) -> dict[str, Any]:
    info = svc.control.get_app(app)
    await svc.certs.set_acm(info, False)
    return acm_json(svc, info)
