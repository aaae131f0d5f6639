"""Our Platform API answers against Heroku's own types (npm `@heroku-cli/schema`, `index.d.ts`).

Every resource the official CLI touches is fetched from a daemon that has something of each
kind (a deployed app with dynos, a one-off, releases, a Postgres add-on and its attachment, a
custom domain, a pipeline with a promotion, a build from an uploaded source, a log session),
then checked two ways against the type of the same name:

* every field present has the declared JSON type (strings, numbers, booleans, null, string
  enums, nested objects, arrays), and every required field is there;
* every field the type declares is present, except the few listed in `OMITTED` with the reason
  paas cannot give them. A field Heroku's CLI reads and paas forgot (the `slug_size` that once
  crashed `heroku apps:info` with `TypeError: Invalid number`) fails here first.

Extra paas fields are allowed: Heroku's types are open (`[k: string]: unknown`).
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dynos_cli import WEB, deploy, wait_dynos
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.herokucli import ensure_schema_types
from tests.support.pg import admin_url
from tests.support.tsschema import Schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# type name -> {field: why paas leaves it out}
OMITTED: dict[str, dict[str, str]] = {
    "AddOn": {"provision_message": "optional: providers have no message to add"},
    "Slug": {"blob": "slugs stay on the daemon's disk: there is no blob store to download from"},
}


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load(ensure_schema_types())


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


def _tarball(extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    files = {"Procfile": "web: python3 app.py\n", "app.py": "print('hi')\n", **(extra or {})}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wait_build(c: httpx.Client, app: str, build_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        build: dict[str, Any] = c.get(f"/apps/{app}/builds/{build_id}").json()
        if build["status"] != "pending":
            return build
        time.sleep(0.2)
    raise AssertionError("build never finished")


def _resources(daemon: DaemonThread, tmp_path: Path) -> list[tuple[str, str, Any]]:
    """(type name, where from, answer) for every resource kind."""
    deploy(daemon, "typed", tmp_path, {"web": WEB})
    wait_dynos(daemon, "typed", lambda ds: any(d["state"] == "up" for d in ds), timeout=30)
    c = daemon.client(timeout=120)
    got: list[tuple[str, str, Any]] = []

    def one(type_name: str, method: str, path: str, **kw: Any) -> Any:
        r = c.request(method, path, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        body = r.json()
        for item in body if isinstance(body, list) else [body]:
            got.append((type_name, f"{method} {path}", item))
        return body

    one("Account", "GET", "/account")
    one("Account", "GET", "/users/~")
    one("App", "GET", "/apps/typed")
    one("App", "GET", "/users/~/apps")
    one("Collaborator", "GET", "/apps/typed/collaborators")
    one("Dyno", "GET", "/apps/typed/dynos")
    one("Dyno", "POST", "/apps/typed/dynos", json={"command": "echo hi", "attach": True})
    one("Formation", "GET", "/apps/typed/formation")
    releases = one("Release", "GET", "/apps/typed/releases")
    one("Release", "GET", f"/apps/typed/releases/{releases[-1]['version']}")
    one("ConfigVars", "GET", "/apps/typed/config-vars")
    one("Domain", "POST", "/apps/typed/domains", json={"hostname": "www.typed.test"})
    one("Domain", "GET", "/apps/typed/domains")
    one("AppFeature", "GET", "/apps/typed/features")
    one("LogSession", "POST", "/apps/typed/log-sessions", json={"lines": 10})
    one("AddOn", "POST", "/apps/typed/addons", json={"plan": {"name": "heroku-postgresql"}})
    one("AddOn", "GET", "/apps/typed/addons")
    one("AddOn", "POST", "/actions/addons/resolve", json={"addon": "DATABASE", "app": "typed"})
    one("AddOnAttachment", "GET", "/addon-attachments")
    one("AddOnAttachment", "GET", "/apps/typed/addon-attachments")
    one(
        "AddOnAttachment", "POST", "/actions/addon-attachments/resolve", json={"addon_attachment": "DATABASE"}
    )
    source = one("Source", "POST", "/apps/typed/sources", content=_tarball())
    build = one(
        "Build", "POST", "/apps/typed/builds", json={"source_blob": {"url": source["source_blob"]["url"]}}
    )
    finished = _wait_build(c, "typed", build["id"])
    one("Build", "GET", f"/apps/typed/builds/{build['id']}")
    one("Slug", "GET", f"/apps/typed/slugs/{finished['slug']['id']}")

    c.post("/apps", json={"name": "typed-prod"}).raise_for_status()
    pipeline = one("Pipeline", "POST", "/pipelines", json={"name": "typed-pipe"})
    one(
        "PipelineCoupling",
        "POST",
        "/pipeline-couplings",
        json={"pipeline": pipeline["id"], "app": "typed", "stage": "staging"},
    )
    c.post(
        "/pipeline-couplings", json={"pipeline": pipeline["id"], "app": "typed-prod", "stage": "production"}
    )
    one("PipelineCoupling", "GET", f"/pipelines/{pipeline['id']}/pipeline-couplings")
    promotion = one(
        "PipelinePromotion", "POST", "/pipeline-promotions", json={"source": {"app": {"name": "typed"}}}
    )
    one("PipelinePromotionTarget", "GET", f"/pipeline-promotions/{promotion['id']}/promotion-targets")

    c.post("/apps", json={"name": "typed-setup"}).raise_for_status()
    app_json = '{"env": {"GREETING": {"value": "hi"}}}'
    blob = c.post("/apps/typed-setup/sources", content=_tarball({"app.json": app_json})).json()
    setup = one("AppSetup", "POST", "/apps/typed-setup/app-setups", json={"source_blob": blob["source_blob"]})
    one("AppSetup", "GET", f"/apps/typed-setup/app-setups/{setup['id']}")
    return got


def test_every_resource_has_herokus_types(schema: Schema, daemon: DaemonThread, tmp_path: Path) -> None:
    resources = _resources(daemon, tmp_path)
    assert {name for name, _, _ in resources} >= {
        "App",
        "Dyno",
        "Release",
        "AddOn",
        "AddOnAttachment",
        "Account",
    }
    problems = []
    for type_name, origin, value in resources:
        problems += [f"{type_name} from {origin}: {e}" for e in schema.errors(value, type_name)]
        if type_name == "ConfigVars":
            continue
        allowed = OMITTED.get(type_name, {})
        missing = [f for f in schema.declared_fields(type_name) if f not in value and f not in allowed]
        problems += [f"{type_name} from {origin}: no field {f!r}" for f in missing]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_what_crashed_the_cli(schema: Schema) -> None:
    """The validator itself: a string where Heroku declares a number is an error, as is a
    missing required field or a value outside a string enum."""
    assert schema.errors({"slug_size": "5 KB"}, "App") != []
    assert schema.errors({"slug_size": None, "repo_size": 0}, "App") == []
    assert any("required" in e for e in schema.errors({"name": "x"}, "Collaborator"))
    assert schema.errors({"status": "exploded"}, "Release") != []
