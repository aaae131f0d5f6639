"""JSON at the edge: the control plane's typed values in the Platform API's shapes and field names."""

from __future__ import annotations

from typing import Any

from paas.builds.appsetup import Setup
from paas.builds.pipelines import CouplingInfo, PipelineInfo, Promotion, PromotionTarget
from paas.builds.service import BuildInfo
from paas.certs.service import DomainCert
from paas.control import USER, Urls, iso
from paas.control.values import AppInfo, DomainInfo, FormationInfo, ReleaseInfo, SlugInfo


def app_json(app: AppInfo, urls: Urls) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "maintenance": app.maintenance,
        "region": {"name": app.region},
        "stack": {"name": app.stack},
        "build_stack": {"name": app.stack},
        "owner": {"email": USER},
        "web_url": urls.web_url(app.name),
        "git_url": urls.git_url(app.name),
        "features": list(app.features),
        "released_at": iso(app.released_at),
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }


def release_json(r: ReleaseInfo, detail: bool = False) -> dict[str, Any]:
    """`detail`: with its config vars and release-phase output (`GET .../releases/{id}`)."""
    data: dict[str, Any] = {
        "id": r.id,
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "current": r.current,
        "slug": {"id": r.slug_id} if r.slug_id else None,
        "user": {"id": USER, "email": USER},
        "addon_plan_names": list(r.addon_plan_names),
        "eligible_for_rollback": r.succeeded,
        "output_stream_url": None,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }
    if detail:
        data["config_vars"] = dict(r.config)
        data["output"] = r.output
    return data


def slug_json(slug: SlugInfo) -> dict[str, Any]:
    return {
        "id": slug.id,
        "process_types": dict(slug.process_types),
        "commit": slug.commit,
        "size": slug.size,
        "stack": {"name": slug.stack},
        "buildpack_provided_description": slug.buildpack,
        "docker_image": slug.docker_image,
        "created_at": iso(slug.created_at),
    }


def formation_json(f: FormationInfo) -> dict[str, Any]:
    return {
        "id": f.id,
        "app": {"id": f.app_id, "name": f.app},
        "type": f.type,
        "quantity": f.quantity,
        "size": f.size,
        "dyno_size": {"name": f.size},
        "command": f.command,
        "updated_at": iso(f.updated_at),
    }


def domain_json(d: DomainInfo, cert: DomainCert | None = None) -> dict[str, Any]:
    """A domain; with `cert`, how the TLS port serves it (Heroku's acm_status, sni_endpoint)."""
    data: dict[str, Any] = {"hostname": d.hostname, "kind": d.kind, "id": d.id}
    if cert is not None:
        custom = d.kind == "custom"
        ep = cert.endpoint
        data.update(
            acm_status=cert.acm_status if custom else None,
            acm_status_reason=cert.acm_status_reason if custom else None,
            sni_endpoint={"id": ep.id, "name": ep.name} if ep is not None and custom else None,
            status="succeeded",
            cname=None,  # *.localhost and custom names resolve on this machine: no DNS target
        )
    return data


def _target_json(t: PromotionTarget) -> dict[str, Any]:
    return {
        "app": {"name": t.app},
        "status": t.status,
        "release": release_json(t.release) if t.release is not None else None,
        "error_message": t.error_message,
    }


def pipeline_json(p: PipelineInfo) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "created_at": iso(p.created_at)}


def coupling_json(c: CouplingInfo) -> dict[str, Any]:
    return {
        "id": c.id,
        "stage": c.stage,
        "app": {"id": c.app_id, "name": c.app},
        "pipeline": {"id": c.pipeline_id, "name": c.pipeline},
    }


def promotion_json(p: Promotion) -> dict[str, Any]:
    source = coupling_json(p.source)
    return {
        "id": p.id,
        "pipeline": source["pipeline"],
        "source": {"app": source["app"], "release": {"version": p.version}, "slug": {"id": p.slug_id}},
        "status": p.status,
        "targets": [_target_json(t) for t in p.targets],
    }


def build_json(b: BuildInfo, urls: Urls) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": b.id,
        "app": {"name": b.app},
        "status": b.status,
        "source_blob": {"version": b.commit},
        "source": b.source,
        "buildpacks": [{"name": b.buildpack}] if b.buildpack else [],
        "slug": {"id": b.slug_id} if b.slug_id else None,
        "release": {"id": b.release_id} if b.release_id else None,
        "duration": b.duration,
        "output_stream_url": f"{urls.api}/apps/{b.app}/builds/{b.id}/output",
        "created_at": iso(b.created_at),
        "updated_at": iso(b.updated_at),
    }
    if b.output is not None:
        data["output"] = b.output
    return data


def setup_json(setup: Setup) -> dict[str, Any]:
    return {
        "id": setup.id,
        "app": {"name": setup.app},
        "status": setup.status,
        "failure_message": setup.failure_message,
        "build": {"id": setup.build_id} if setup.build_id else None,
        "postdeploy": setup.postdeploy,
        "manifest": setup.manifest_found,
    }
