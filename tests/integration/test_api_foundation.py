"""The Platform-API-shaped surface: apps, config vars, releases, errors, auth, log stream."""

from __future__ import annotations

import stat

import httpx

from tests.support.daemon import DaemonThread


def test_app_lifecycle_and_heroku_shapes(daemon: DaemonThread) -> None:
    c = daemon.client()
    r = c.post("/apps", json={"name": "shapes"})
    assert r.status_code == 201
    app = r.json()
    assert app["name"] == "shapes"
    assert app["git_url"] == f"{daemon.api_url}/git/shapes.git"
    assert app["web_url"] == f"http://shapes.localhost:{daemon.d.router_port}/"
    assert [a["name"] for a in c.get("/apps").json()] == ["shapes"]
    assert c.get(f"/apps/{app['id']}").json()["name"] == "shapes"  # {app} = name or id
    releases = c.get("/apps/shapes/releases").json()
    assert [(r["version"], r["description"]) for r in releases] == [
        (1, "Initial release"),
        (2, "Enable Logplex"),
    ]
    assert c.delete("/apps/shapes").status_code == 200
    assert c.get("/apps/shapes").json() == {"id": "not_found", "message": "Couldn't find that app."}


def test_random_name_when_none_given(daemon: DaemonThread) -> None:
    name = daemon.client().post("/apps", json={}).json()["name"]
    assert len(name.split("-")) == 3 and name[0].isalpha()


def test_bad_app_names_are_refused_and_nothing_is_created(daemon: DaemonThread) -> None:
    c = daemon.client()
    for bad in ("A", "ab", "Upper", "1abc", "ends-", "has_underscore", "x" * 31):
        r = c.post("/apps", json={"name": bad})
        assert r.status_code == 422, bad
        assert r.json()["id"] == "invalid_params"
        assert "Name must start with a letter" in r.json()["message"]
    assert c.get("/apps").json() == []
    c.post("/apps", json={"name": "taken"})
    dup = c.post("/apps", json={"name": "taken"})
    assert dup.status_code == 422 and dup.json() == {
        "id": "invalid_params",
        "message": "Name is already taken",
    }
    assert len(c.get("/apps").json()) == 1


def test_config_changes_make_releases_and_api_log_lines(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "cfg"})
    assert c.patch("/apps/cfg/config-vars", json={"FOO": "bar", "N": "1"}).json() == {"FOO": "bar", "N": "1"}
    assert c.patch("/apps/cfg/config-vars", json={"FOO": None}).json() == {"N": "1"}
    releases = c.get("/apps/cfg/releases").json()
    assert [r["description"] for r in releases[2:]] == ["Set FOO, N config vars", "Remove FOO config vars"]
    assert releases[-1]["current"] is True
    assert c.get("/apps/cfg/releases/3/config-vars").json() == {"FOO": "bar", "N": "1"}
    log = c.get("/apps/cfg/log-stream", params={"lines": 100}).text.splitlines()
    assert any(line.endswith("app[api]: Set FOO, N config vars by user local@paas") for line in log)
    assert any(line.endswith("app[api]: Release v4 created by user local@paas") for line in log)


def test_bad_config_keys_change_nothing(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "keys"})
    c.patch("/apps/keys/config-vars", json={"GOOD": "1"})
    before = c.get("/apps/keys/releases").json()
    for body in (
        {"BAD-KEY": "x"},
        {"HEROKU_FOO": "x"},
        {"__X": "x"},
        {"OK": "1", "no spaces": "x"},
        {"BIG": "x" * 33_000},
        {},
        {"OBJ": {"nested": 1}},
    ):
        r = c.patch("/apps/keys/config-vars", json=body)
        assert r.status_code == 422, body
        assert r.json()["id"] == "invalid_params"
    assert c.get("/apps/keys/config-vars").json() == {"GOOD": "1"}
    assert c.get("/apps/keys/releases").json() == before


def test_rollback_makes_a_new_release_with_old_config(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "rbk"})
    c.patch("/apps/rbk/config-vars", json={"V": "1"})  # v3
    c.patch("/apps/rbk/config-vars", json={"V": "2"})  # v4
    r = c.post("/apps/rbk/releases", json={"release": "v3"})
    assert r.status_code == 201
    assert r.json()["description"] == "Rollback to v3" and r.json()["version"] == 5
    assert c.get("/apps/rbk/config-vars").json() == {"V": "1"}
    assert c.post("/apps/rbk/releases", json={"release": "99"}).status_code == 404


def test_auth_errors_and_malformed_requests(daemon: DaemonThread) -> None:
    raw = httpx.Client(base_url=daemon.api_url)
    r = raw.get("/apps")
    assert r.status_code == 401 and r.json()["id"] == "unauthorized"
    assert raw.get("/apps", headers={"Authorization": "Bearer nope"}).status_code == 401
    c = daemon.client()
    r = c.post("/apps", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json() == {
        "id": "bad_request",
        "message": "Request body is not valid JSON.",
    }
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = c.post("/apps", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert c.post("/apps", json={"name": "ok-app", "bogus": 1}).status_code == 422
    assert c.get("/apps/nope/config-vars").status_code == 404
    assert c.get("/apps").json() == []  # nothing half-created by any of the above
    assert c.get("/status").json()["internal_errors"] == 0


def test_token_file_is_private_and_openapi_is_served(daemon: DaemonThread) -> None:
    mode = stat.S_IMODE(daemon.settings.token_path.stat().st_mode)
    assert mode == 0o600
    spec = httpx.get(f"{daemon.api_url}/openapi.json").json()
    assert "/apps/{app}/config-vars" in spec["paths"]


def test_log_stream_filters_by_source_and_dyno(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "logs"})
    hub = daemon.d.logs
    loop = daemon.loop
    assert loop is not None

    async def emit() -> None:
        hub.emit("logs", "app", "web.1", "hello from web.1")
        hub.emit("logs", "app", "worker.1", "hello from worker")
        hub.emit("logs", "heroku", "router", "at=info method=GET path=/")

    daemon.call(emit)
    web = c.get("/apps/logs/log-stream", params={"dyno": "web"}).text
    assert "hello from web.1" in web and "worker" not in web
    heroku = c.get("/apps/logs/log-stream", params={"source": "heroku"}).text
    assert "heroku[router]: at=info" in heroku and "app[" not in heroku
    assert c.get("/apps/logs/log-stream", params={"lines": 5000}).status_code == 422
    session = c.post("/apps/logs/log-sessions", json={"dyno": "router", "tail": False}).json()
    assert session["logplex_url"].startswith(daemon.api_url)
    assert "heroku[router]" in c.get(session["logplex_url"]).text
