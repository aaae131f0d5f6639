"""JSON at the edge: the control plane's typed values in the Platform API's shapes and field names."""

from __future__ import annotations

from typing import Any

from paas.builds.pipelines import Promotion, PromotionTarget
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


def domain_json(d: DomainInfo) -> dict[str, Any]:
    return {"hostname": d.hostname, "kind": d.kind, "id": d.id}


def _target_json(t: PromotionTarget) -> dict[str, Any]:
    return {
        "app": {"name": t.app},
        "status": t.status,
        "release": release_json(t.release) if t.release is not None else None,
        "error_message": t.error_message,
    }


def promotion_json(p: Promotion) -> dict[str, Any]:
    return {
        "id": p.id,
        "pipeline": p.pipeline,
        "source": {"app": p.source_app, "release": {"version": p.version}, "slug": {"id": p.slug_id}},
        "status": p.status,
        "targets": [_target_json(t) for t in p.targets],
    }
