"""Whole strings, everywhere: a trailing newline (or other near miss) is refused, never taken as a
second identity beside the clean name (`nlapp\\n` beside `nlapp`), and never normalised into it.

One test per kind of name the API accepts, each with its exact error; `tests/unit/
test_regex_whole_strings.py` keeps `$`-anchored validators out of the tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings


def refused(r: httpx.Response, status: int, message: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["message"] == message, body
    assert body["id"] == {404: "not_found", 422: "invalid_params"}[status]


@pytest.fixture
def c(daemon: DaemonThread) -> httpx.Client:
    client = daemon.client()
    assert client.post("/apps", json={"name": "nlapp"}).status_code == 201
    return client


def deployed(daemon: DaemonThread, tmp_path: Path, app: str = "nlapp") -> None:
    slug = tmp_path / "slug"
    slug.mkdir()
    (slug / "Procfile").write_text("web: sleep 600\n")

    async def go() -> None:
        s = daemon.d.control.create_slug(app, slug, {"web": "sleep 600"})
        await daemon.d.releases.release_slug(app, s.id, "Deploy")

    daemon.call(go)


NAME_RULE = (
    "Name must start with a letter, end with a letter or digit and can only contain lowercase "
    "letters, digits, and dashes (3 to 30 characters)."
)


def test_app_names(c: httpx.Client) -> None:
    refused(c.post("/apps", json={"name": "nlapp\n"}), 422, NAME_RULE)
    refused(c.patch("/apps/nlapp", json={"name": "renamed\n"}), 422, NAME_RULE)
    assert [a["name"] for a in c.get("/apps").json()] == ["nlapp"]
    for path in ("/apps/nlapp%0A", "/apps/nlapp%00", "/apps/nl%7Fapp"):
        r = c.get(path)
        assert r.status_code == 400, path
        assert r.json() == {
            "id": "bad_request",
            "message": "Request paths may not contain control characters.",
        }


def test_config_keys(c: httpx.Client) -> None:
    refused(
        c.patch("/apps/nlapp/config-vars", json={"FOO\n": "1"}),
        422,
        "Invalid config var name 'FOO\\n': only letters, digits and '_' are allowed.",
    )
    assert c.get("/apps/nlapp/config-vars").json() == {}


@pytest.mark.parametrize(
    "hostname,message",
    [
        ("www.example.com\n", "'www.example.com\\n' is not a valid hostname."),
        (" www.example.com", "' www.example.com' is not a valid hostname."),
        ("127.0.0.1", "'127.0.0.1' is an IP address: a custom domain must be a hostname."),
        ("127.1", "'127.1' is an IP address: a custom domain must be a hostname."),
        ("2130706433", "'2130706433' is an IP address: a custom domain must be a hostname."),
        ("0x7f.0.0.1", "'0x7f.0.0.1' is an IP address: a custom domain must be a hostname."),
        ("10.0.0.1.", "'10.0.0.1.' is an IP address: a custom domain must be a hostname."),
        ("::1", "'::1' is not a valid hostname."),
        ("[::1]", "'[::1]' is not a valid hostname."),
        ("localhost", "'localhost' is reserved for this machine: a custom domain must be another name."),
        ("x.LOCALHOST", "'x.LOCALHOST' is reserved for this machine: a custom domain must be another name."),
    ],
)
def test_custom_domains_are_hostnames_never_ip_literals(c: httpx.Client, hostname: str, message: str) -> None:
    """An app given 127.0.0.1 would receive every cookie of 127.0.0.1, the dataclips login's too."""
    refused(c.post("/apps/nlapp/domains", json={"hostname": hostname}), 422, message)
    assert [d["kind"] for d in c.get("/apps/nlapp/domains").json()] == ["heroku"]


def test_custom_domains_that_are_names_still_work(c: httpx.Client) -> None:
    for name in ("www.example.com", "Shop.Example.COM.", "1.example.com", "*.example.org", "a-1.b2"):
        assert c.post("/apps/nlapp/domains", json={"hostname": name}).status_code == 201, name
    hosts = sorted(d["hostname"] for d in c.get("/apps/nlapp/domains").json()[1:])
    assert hosts == ["*.example.org", "1.example.com", "a-1.b2", "shop.example.com", "www.example.com"]


def test_process_types(daemon: DaemonThread, c: httpx.Client, tmp_path: Path) -> None:
    deployed(daemon, tmp_path)
    r = c.patch("/apps/nlapp/formation", json={"updates": [{"type": "web\n", "quantity": 0}]})
    assert r.status_code == 404 and r.json()["id"] == "not_found", r.text
    refused(
        c.post("/apps/nlapp/container-releases", json={"image": "x", "process_types": ["web\n"]}),
        422,
        "Invalid process type 'web\\n': letters, digits, '-' and '_' only.",
    )


def test_dyno_names_and_fault_targets(daemon: DaemonThread, c: httpx.Client, tmp_path: Path) -> None:
    deployed(daemon, tmp_path)
    r = c.post("/apps/nlapp/dynos/web.1%0A/actions/stop")
    assert r.status_code == 400 and r.json()["id"] == "bad_request"
    refused(
        c.post("/apps/nlapp/dynos/web.1%20/actions/stop"),
        404,
        "Couldn't find that dyno or process type (web.1 ) on nlapp.",
    )
    for target in ("web\n", "web.1\n"):
        refused(
            c.post("/apps/nlapp/faults", json={"dyno": target, "type": "crash"}),
            422,
            f"{target!r} is not a dyno name (web.1) or a process type (web)",
        )


def test_add_on_plans_attachments_and_names(c: httpx.Client) -> None:
    refused(
        c.post("/apps/nlapp/addons", json={"plan": "heroku-kafka:basic-0\n"}),
        422,
        "Plan 'basic-0\\n' is not a heroku-kafka plan. Plans: basic-0, basic-1, basic-2.",
    )
    r = c.post("/apps/nlapp/addons", json={"plan": " heroku-kafka"})
    assert r.status_code == 404 and r.json()["id"] == "not_found"
    refused(
        c.post("/apps/nlapp/addons", json={"plan": "heroku-kafka", "attachment": {"name": "STREAM\n"}}),
        422,
        "Attachment name 'STREAM\\n' is invalid or already used on nlapp.",
    )
    refused(
        c.post("/apps/nlapp/addons", json={"plan": "heroku-kafka", "name": "my-kafka\n"}),
        422,
        "Add-on names are 3 to 61 lowercase letters, digits and dashes, starting with a letter.",
    )
    assert c.get("/apps/nlapp/addons").json() == []


def test_dyno_sizes(c: httpx.Client) -> None:
    r = c.post("/apps/nlapp/dynos", json={"command": "true", "size": "standard-1x\n"})
    assert r.status_code == 422 and r.json()["message"].startswith("Unknown dyno size 'standard-1x\\n'")
    r = c.patch("/apps/nlapp/formation", json={"updates": [{"type": "web", "size": "basic\n"}]})
    assert r.status_code == 422, r.text


@pytest.mark.kafka
def test_kafka_topic_and_group_names(c: httpx.Client) -> None:
    addon: dict[str, Any] = c.post("/apps/nlapp/addons", json={"plan": "heroku-kafka:basic-0"}).json()
    base = f"/apps/nlapp/kafka/{addon['name']}"
    prefix = c.get(f"{base}/topics").json()["prefix"]
    for bad in ("events\n", " events"):
        refused(
            c.post(f"{base}/topics", json={"topic": {"name": bad}}),
            422,
            f"Topic name {prefix + bad!r} is invalid: use up to 249 letters, digits, '.', '_' and '-'.",
        )
        refused(
            c.post(f"{base}/consumer_groups", json={"consumer_group": {"name": bad}}),
            422,
            f"Consumer group name {prefix + bad!r} is invalid: use letters, digits, '.', '_' and '-'.",
        )
    assert c.get(f"{base}/topics").json()["topics"] == []


def test_pipeline_names(c: httpx.Client) -> None:
    refused(
        c.post("/pipelines", json={"name": "shop\n"}),
        422,
        "Pipeline names are 3 to 60 lowercase letters, digits and dashes, starting with a letter.",
    )


def test_release_versions_and_signals_that_look_like_numbers(c: httpx.Client) -> None:
    """`str.isdigit` says yes to '²' and to 5,000 digits; `int()` then raised: a 500."""
    for ref in ("v%C2%B2", "v" + "9" * 5000, "v99999999999999999999"):
        r = c.get(f"/apps/nlapp/releases/{ref}")
        assert r.status_code == 404, (ref[:20], r.status_code)
    r = c.post("/apps/nlapp/dynos/web.1/actions/kill", json={"signal": "²"})
    assert r.status_code in (404, 422), r.text


def test_git_paths(daemon: DaemonThread, c: httpx.Client) -> None:
    auth = ("git", daemon.d.token)
    ok = httpx.get(f"{daemon.api_url}/git/nlapp.git/info/refs?service=git-upload-pack", auth=auth)
    assert ok.status_code == 200
    # Starlette's `{path:path}` would match `info/refs` for `info/refs\n`: refused before routing
    for path in ("/git/nlapp.git/info/refs%0A", "/git/nlapp%0A.git/info/refs"):
        r = httpx.get(f"{daemon.api_url}{path}?service=git-upload-pack", auth=auth)
        assert r.status_code == 400, (path, r.status_code)


@pytest.mark.parametrize(
    "header",
    [b"Bearer t\xe9st", "Bearer tést".encode(), b"Bearer \xff\xfe", b"bearer \x80" + b"a" * 47],
)
def test_a_non_ascii_bearer_token_is_a_401_not_a_traceback(
    daemon: DaemonThread, header: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    r = httpx.get(f"{daemon.api_url}/apps", headers={b"Authorization": header})
    assert r.status_code == 401
    assert r.json() == {"id": "unauthorized", "message": "Invalid credentials provided."}
    assert daemon.d.internal_errors == 0
    assert "Traceback" not in capfd.readouterr().err
    assert daemon.client().get("/apps").status_code == 200  # and the daemon serves on


def test_an_ip_literal_domain_kept_by_an_older_home_is_not_routed(paas_home: Path) -> None:
    """A home made before the rule may hold `127.0.0.1` as a domain: the next daemon routes none."""
    from paas.state.models import App, Domain

    first = DaemonThread(daemon_settings(paas_home)).start()
    try:
        first.client().post("/apps", json={"name": "oldapp"})
        with first.d.control.store.session() as s:
            app_id = s.scalars(select(App.id).where(App.name == "oldapp")).one()
            s.add(Domain(app_id=app_id, hostname="127.0.0.1"))
            s.add(Domain(app_id=app_id, hostname="www.example.com"))
    finally:
        first.stop()
    d = DaemonThread(daemon_settings(paas_home)).start()
    try:
        answers = {
            host: httpx.get(f"{d.router_url}/", headers={"Host": f"{host}:{d.d.router_port}"})
            for host in ("127.0.0.1", "www.example.com", "nothing.example.com")
        }
        unrouted = answers["nothing.example.com"]
        assert (answers["127.0.0.1"].status_code, answers["127.0.0.1"].text) == (
            unrouted.status_code,
            unrouted.text,
        )
        assert answers["www.example.com"].text != unrouted.text  # a host name still reaches the app
    finally:
        d.stop()
