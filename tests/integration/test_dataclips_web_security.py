"""The dataclips pages against forged requests: CSRF and Origin checks on every state change, an
expiring HttpOnly SameSite=Strict session, CSP and frame protection everywhere, and credentials
with non-ASCII bytes answered 401 (never 500)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.pg import admin_url

pytestmark = pytest.mark.postgres

EVIL = "http://evil.localhost:5000"


@pytest.fixture
def pg_daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home, postgres_url=admin_url())).start()
    try:
        yield d
    finally:
        d.stop()


@contextlib.contextmanager
def browser(d: DaemonThread) -> Iterator[tuple[httpx.Client, str]]:
    """A logged-in browser-like client (session cookie, its own Origin) and the page's CSRF token."""
    headers = {"Origin": d.api_url}
    with httpx.Client(base_url=d.api_url, headers=headers, follow_redirects=False, timeout=30) as client:
        r = client.post("/dataclips/login", data={"token": d.d.token, "next": "/dataclips"})
        assert r.status_code == 303, r.text
        page = client.get("/dataclips")
        match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert match is not None and f'name="csrf" value="{match.group(1)}"' in page.text
        yield client, match.group(1)


def test_the_session_cookie_is_strict_httponly_and_expires(pg_daemon: DaemonThread) -> None:
    with httpx.Client(base_url=pg_daemon.api_url, follow_redirects=False) as anon:
        r = anon.post("/dataclips/login", data={"token": pg_daemon.d.token})
        cookie = r.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "max-age", "path"} <= attributes.keys()
        assert "strict" in attributes["samesite"].lower() and attributes["max-age"].strip() == "Max-Age=28800"
        assert attributes["path"].strip() == "Path=/dataclips"
        assert anon.get("/dataclips/api/clips").status_code == 200
        # a correctly signed cookie from nine hours ago is refused: expiry is checked by the server
        issued = int(time.time()) - 9 * 3600
        mac = hmac.new(pg_daemon.d.token.encode(), f"{issued}.abc".encode(), hashlib.sha256).hexdigest()
        anon.cookies.clear()
        anon.cookies.set("paas_dataclips", f"{issued}.abc.{mac}")
        assert anon.get("/dataclips/api/clips").status_code == 401
        assert anon.get("/dataclips").headers["location"] == "/dataclips/login?next=/dataclips"
    with browser(pg_daemon) as (client, csrf):
        old = client.cookies["paas_dataclips"]
        assert client.post("/dataclips/logout", data={"csrf": csrf}).status_code == 303
        client.cookies.set("paas_dataclips", old)  # a copy of the cookie dies with the logout
        assert client.get("/dataclips/api/clips").status_code == 401


def test_state_changes_need_the_csrf_token_and_the_daemons_origin(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip = c.post("/dataclips/api/clips", json={"title": "t", "target": "platform", "sql": "SELECT 1"}).json()
    cid = clip["id"]
    changes = [
        ("POST", "/dataclips/api/clips", {"title": "x", "target": "platform"}),
        ("PATCH", f"/dataclips/api/clips/{cid}", {"title": "renamed"}),
        ("POST", f"/dataclips/api/clips/{cid}/run", {}),
        ("POST", f"/dataclips/api/clips/{cid}/cancel", None),
        ("POST", f"/dataclips/api/clips/{cid}/revert", {"version": 1}),
        ("POST", f"/dataclips/api/clips/{cid}/share", None),
        ("POST", f"/dataclips/api/clips/{cid}/revoke", None),
        ("DELETE", f"/dataclips/api/clips/{cid}", None),
    ]
    with browser(pg_daemon) as (client, csrf):
        for method, path, body in changes:
            for headers, why in (
                ({}, "Missing or invalid CSRF token"),
                ({"X-CSRF-Token": "forged"}, "Missing or invalid CSRF token"),
                ({"X-CSRF-Token": csrf, "Origin": EVIL}, "Cross-origin request refused"),
                ({"X-CSRF-Token": csrf, "Origin": "null"}, "Cross-origin request refused"),
            ):
                r = client.request(method, path, json=body, headers=headers)
                assert r.status_code == 403 and why in r.json()["message"], (method, path, headers, r.text)
        no_origin = client.post(
            "/dataclips/api/clips/1/revoke", headers={"Origin": "", "Referer": f"{EVIL}/page"}
        )
        assert no_origin.status_code == 403
        assert c.get(f"/dataclips/api/clips/{cid}").json()["slug"] == clip["slug"]  # nothing changed
        assert [x["id"] for x in c.get("/dataclips/api/clips").json()] == [cid]
        # the page's own requests pass
        for method, path, body in changes:
            r = client.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
            assert r.status_code in (200, 201), (method, path, r.text)
        # the HTML forms carry the token as a field
        assert client.post("/dataclips/new", data={"title": "f", "target": "platform"}).status_code == 403
        made = client.post("/dataclips/new", data={"title": "f", "target": "platform", "csrf": csrf})
        assert made.status_code == 303 and made.headers["location"].startswith("/dataclips/clips/")
        assert client.post("/dataclips/logout").status_code == 403  # no token: still logged in
        assert client.get("/dataclips/api/clips").status_code == 200
    # the CLI (bearer token, no Origin) is not a browser: no CSRF token needed, but never cross-origin
    assert c.post("/dataclips/api/clips", json={"title": "cli", "target": "platform"}).status_code == 201
    evil = c.post("/dataclips/api/clips", json={"title": "x", "target": "platform"}, headers={"Origin": EVIL})
    assert evil.status_code == 403
    # nobody else's page may log a browser in
    with httpx.Client(base_url=pg_daemon.api_url, headers={"Origin": EVIL}) as anon:
        r = anon.post("/dataclips/login", data={"token": pg_daemon.d.token})
        assert r.status_code == 403 and "set-cookie" not in r.headers


def test_every_dataclips_response_forbids_framing_and_inline_script(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    clip = c.post("/dataclips/api/clips", json={"title": "t", "target": "platform", "sql": "SELECT 1"}).json()
    with browser(pg_daemon) as (client, _csrf):
        responses = [
            client.get("/dataclips/login"),
            client.get("/dataclips"),
            client.get(f"/dataclips/clips/{clip['id']}"),
            client.get("/dataclips/static/dataclips.js"),
            client.get("/dataclips/api/clips"),
            client.get(f"/dataclips/{clip['slug']}"),
            client.get(f"/dataclips/{clip['slug']}.csv"),
            client.get("/dataclips/" + "x" * 28),
            client.post("/dataclips/api/clips", json={}),  # an error answer too
        ]
    for r in responses:
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (r.url, r.headers)
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize(
    "header",
    [
        b"Cookie: paas_dataclips=\xc3\xa9t\xc3\xa9",
        b'Cookie: paas_dataclips="\\777.\\351.x"',
        b"Authorization: Bearer \xc3\xa9t\xc3\xa9",
        b"Authorization: Bearer \xff",
    ],
)
def test_non_ascii_credentials_are_refused_not_crashed_on(pg_daemon: DaemonThread, header: bytes) -> None:
    port = int(pg_daemon.api_url.rsplit(":", 1)[1])
    for path, status in ((b"/dataclips/api/clips", b"401"), (b"/dataclips", b"303")):
        answer = raw_request(
            port,
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\nConnection: close\r\n\r\n",
        )
        assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 " + status + (
            b" Unauthorized" if status == b"401" else b" See Other"
        )
    assert pg_daemon.d.internal_errors == 0
    assert pg_daemon.client().get("/dataclips/api/clips").status_code == 200  # and the daemon serves on


def test_odd_clip_ids_are_not_found_not_crashed_on(pg_daemon: DaemonThread) -> None:
    c = pg_daemon.client()
    for ident in ("²", "9" * 30, "-1", "1e3"):
        r = c.get(f"/dataclips/api/clips/{ident}")
        assert r.status_code == 404 and r.json()["id"] == "not_found", (ident, r.text)
    assert pg_daemon.d.internal_errors == 0
