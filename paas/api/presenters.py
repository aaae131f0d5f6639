"""JSON at the edge: the control plane's typed values in the Platform API's shapes and field names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from paas.builds.appsetup import Setup
from paas.builds.pipelines import CouplingInfo, PipelineInfo, Promotion, PromotionTarget
from paas.builds.reviewapps import ReviewAppInfo, ReviewConfigInfo
from paas.builds.service import BuildInfo
from paas.certs.service import DomainCert
from paas.control import USER, Urls, iso
from paas.control.values import AppInfo, DomainInfo, FormationInfo, ReleaseInfo, SlugInfo

# The one local user: Heroku's account resource names it by email and a stable id.
USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "paas:user:" + USER))
EPOCH = "2026-01-01T00:00:00Z"  # when the local account "was created": a fixed, valid timestamp


def _stable_id(*parts: str) -> str:
    """A uuid derived from what names a thing that has no row of its own (an attachment, a
    collaborator, a region): the same thing gets the same id on every answer."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "paas:" + ":".join(parts)))


def user_json() -> dict[str, Any]:
    return {"id": USER_ID, "email": USER}


@dataclass(frozen=True)
class AppSizes:
    """Bytes on disk behind an app: its git repository and its live slug (0 before any)."""

    repo: int = 0
    slug: int = 0


def app_json(app: AppInfo, urls: Urls, sizes: AppSizes | None = None) -> dict[str, Any]:
    sizes = sizes or AppSizes()
    return {
        "id": app.id,
        "name": app.name,
        "maintenance": app.maintenance,
        "region": {"id": _stable_id("region", app.region), "name": app.region},
        "stack": {"id": _stable_id("stack", app.stack), "name": app.stack},
        "build_stack": {"id": _stable_id("stack", app.stack), "name": app.stack},
        "generation": {"id": _stable_id("generation", "cedar"), "name": "cedar"},
        "owner": user_json(),
        "organization": None,
        "team": None,
        "space": None,
        "acm": False,
        "internal_routing": None,
        "archived_at": None,
        "buildpack_provided_description": None,
        "create_status": "complete",
        "repo_size": sizes.repo,
        "slug_size": sizes.slug,
        "web_url": urls.web_url(app.name),
        "git_url": urls.git_url(app.name),
        "features": list(app.features),
        "released_at": iso(app.released_at),
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }


def account_json() -> dict[str, Any]:
    return {
        **user_json(),
        "name": "Local User",
        "allow_tracking": False,
        "beta": False,
        "country_of_residence": None,
        "default_organization": None,
        "default_team": None,
        "delinquent_at": None,
        "federated": False,
        "identity_provider": None,
        "last_login": None,
        "sms_number": None,
        "suspended_at": None,
        "two_factor_authentication": False,
        "verified": True,
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def collaborator_json(app: AppInfo) -> dict[str, Any]:
    """The owner, the one collaborator of every local app."""
    return {
        "id": _stable_id("collaborator", app.id),
        "app": {"id": app.id, "name": app.name},
        "user": {**user_json(), "federated": False},
        "role": "owner",
        "permissions": [],
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }


def attachment_json(addon: dict[str, Any]) -> dict[str, Any]:
    """The one attachment of an add-on (`addon` as the add-on service presents it): paas
    attaches each add-on once, to the app that owns it, under `addon["attachment"]`."""
    app = {"id": addon["app"]["id"], "name": addon["app"]["name"]}
    return {
        "id": _stable_id("attachment", addon["id"]),
        "name": addon["attachment"],
        "app": app,
        "addon": {
            "id": addon["id"],
            "name": addon["name"],
            "app": app,
            "plan": addon["plan"],
        },
        "config_vars": addon["config_vars"],
        "namespace": None,
        "log_input_url": None,
        "web_url": None,
        "created_at": addon["created_at"],
        "updated_at": addon["updated_at"],
    }


def release_json(r: ReleaseInfo, detail: bool = False, output_url: str | None = None) -> dict[str, Any]:
    """`detail`: with its config vars and release-phase output (`GET .../releases/{id}`);
    `output_url`: where its release-phase output streams (None: it has no release phase)."""
    data: dict[str, Any] = {
        "id": r.id,
        "app": {"name": r.app},
        "version": r.version,
        "description": r.description,
        "status": r.status,
        "current": r.current,
        "slug": {"id": r.slug_id} if r.slug_id else None,
        "user": user_json(),
        "addon_plan_names": list(r.addon_plan_names),
        "eligible_for_rollback": r.succeeded,
        "output_stream_url": output_url if (r.output or r.status == "pending") else None,
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
        "checksum": None,
        "commit_description": None,
        "docker_image": slug.docker_image,
        "created_at": iso(slug.created_at),
        "updated_at": iso(slug.created_at),
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
        "created_at": iso(f.updated_at),
        "updated_at": iso(f.updated_at),
    }


def domain_json(d: DomainInfo, app: AppInfo, cert: DomainCert | None = None) -> dict[str, Any]:
    """A domain; with `cert`, how the TLS port serves it (Heroku's acm_status, sni_endpoint)."""
    custom = d.kind == "custom"
    data: dict[str, Any] = {
        "id": d.id or _stable_id("domain", app.id, d.hostname),
        "hostname": d.hostname,
        "kind": d.kind,
        "app": {"id": app.id, "name": app.name},
        # a custom domain points at the router's loopback address, as Heroku's DNS target would
        "cname": f"{app.name}.localhost" if custom else None,
        "status": "succeeded",
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": None,
        "created_at": iso(app.created_at),
        "updated_at": iso(app.updated_at),
    }
    if cert is not None and custom:
        ep = cert.endpoint
        data.update(
            acm_status=cert.acm_status,
            acm_status_reason=cert.acm_status_reason,
            sni_endpoint={"id": ep.id, "name": ep.name} if ep is not None else None,
        )
    return data


def feature_json(name: str, description: str, enabled: bool, state: str) -> dict[str, Any]:
    return {
        "id": _stable_id("feature", name),
        "name": name,
        "display_name": name,
        "description": description,
        "doc_url": "https://devcenter.heroku.com/articles/heroku-labs",
        "state": state,
        "enabled": enabled,
        "feedback_email": USER,
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def target_json(t: PromotionTarget, promotion_id: str) -> dict[str, Any]:
    return {
        "id": _stable_id("promotion-target", promotion_id, t.app),
        "app": {"id": t.app_id, "name": t.app},
        "pipeline_promotion": {"id": promotion_id},
        "status": t.status,
        "release": release_json(t.release) if t.release is not None else None,
        "error_message": t.error_message,
    }


def pipeline_json(p: PipelineInfo) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "owner": {"id": USER_ID, "type": "user"},
        "generation": {"name": "cedar"},
        "created_at": iso(p.created_at),
        "updated_at": iso(p.created_at),
    }


def coupling_json(c: CouplingInfo) -> dict[str, Any]:
    return {
        "id": c.id,
        "stage": c.stage,
        "app": {"id": c.app_id, "name": c.app},
        "pipeline": {"id": c.pipeline_id, "name": c.pipeline},
        "created_at": EPOCH,
        "updated_at": EPOCH,
    }


def promotion_json(p: Promotion) -> dict[str, Any]:
    source = coupling_json(p.source)
    return {
        "id": p.id,
        "pipeline": source["pipeline"],
        "source": {
            "app": source["app"],
            "release": {"id": p.release_id, "version": p.version},
            "slug": {"id": p.slug_id},
        },
        # Heroku's promotion is `completed` once every target is done, failed or not; paas
        # promotes before it answers. Each target says how it went.
        "status": "completed",
        "targets": [target_json(t, p.id) for t in p.targets],
        "created_at": iso(p.created_at),
        "updated_at": iso(p.created_at),
    }


def build_json(b: BuildInfo, urls: Urls, stack: str) -> dict[str, Any]:
    """`stack`: the app's, which every build of it uses."""
    data: dict[str, Any] = {
        "id": b.id,
        "app": {"name": b.app},
        "status": b.status,
        "source_blob": {"version": b.commit},
        "source": b.source,
        "buildpacks": [{"name": b.buildpack, "url": b.buildpack}] if b.buildpack else [],
        "stack": stack,
        "user": user_json(),
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


def setup_json(setup: Setup, urls: Urls) -> dict[str, Any]:
    resolved = None
    if setup.status == "succeeded" and setup.success_url is not None:
        resolved = urls.web_url(setup.app).rstrip("/") + setup.success_url
    return {
        "id": setup.id,
        "app": {"name": setup.app},
        "status": setup.status,
        "failure_message": setup.failure_message,
        "manifest_errors": [],  # app.json is validated before the setup starts: errors answer 422
        "build": {"id": setup.build_id} if setup.build_id else None,
        "postdeploy": setup.postdeploy,
        "resolved_success_url": resolved,
        "created_at": iso(setup.created_at),
        "updated_at": iso(setup.updated_at),
        "manifest": setup.manifest_found,
    }


def review_config_json(c: ReviewConfigInfo) -> dict[str, Any]:
    return {
        "pipeline": {"id": c.pipeline_id, "name": c.pipeline},
        "automatic_review_apps": c.automatic_review_apps,
        "destroy_stale_apps": c.destroy_stale_apps,
        "stale_days": round(c.stale_after / 86400, 6),
        "wait_for_ci": False,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def review_app_json(r: ReviewAppInfo, urls: Urls) -> dict[str, Any]:
    return {
        "id": r.id,
        "app": {"name": r.app},
        "branch": r.branch,
        "pipeline": {"id": r.pipeline_id, "name": r.pipeline},
        "status": r.status,
        "source_blob": {"version": r.commit},
        "message": r.message,
        "web_url": urls.web_url(r.app),
        "created_at": iso(r.created_at),
        "updated_at": iso(r.deployed_at),
    }
