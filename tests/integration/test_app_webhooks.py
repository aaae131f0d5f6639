"""App webhooks against a real HTTPS receiver (local CA): Heroku's payload, a signature the
receiver verifies, sync retries with back-off, notify's single attempt, delivery records,
and a secret that never comes back out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.receivers import HttpsReceiver, wait_until

SECRET = "s3cr3t-for-the-test"


def verified(body: bytes, signature: str, secret: str = SECRET) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature)


@pytest.fixture
def hooked(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, webhook_retry_base=0.05)).start()
    try:
        d.client().post("/apps", json={"name": "hooked"}).raise_for_status()
        yield d
    finally:
        d.stop()


def add_webhook(d: DaemonThread, url: str, level: str = "sync", include: str = "api:release") -> str:
    r = d.client().post(
        "/apps/hooked/webhooks",
        json={"url": url, "include": include.split(","), "level": level, "secret": SECRET},
    )
    assert r.status_code == 201, r.text
    assert "secret" not in r.json()
    return str(r.json()["id"])


def set_config(d: DaemonThread, **config: str) -> None:
    d.client().patch("/apps/hooked/config-vars", json=config).raise_for_status()


def test_a_release_is_delivered_signed_in_herokus_shape(hooked: DaemonThread) -> None:
    receiver = HttpsReceiver(hooked.d.ca).start()
    try:
        hook = add_webhook(hooked, f"{receiver.url}/hooks")
        set_config(hooked, GREETING="hello")
        assert wait_until(lambda: bool(receiver.received))
        got = receiver.received[0]
        assert verified(got.body, got.headers["heroku-webhook-hmac-sha256"])
        assert not verified(got.body, got.headers["heroku-webhook-hmac-sha256"], "another secret")
        body = json.loads(got.body)
        assert body["resource"] == "release" and body["action"] == "create"
        assert body["version"] == "application/vnd.heroku+json; version=3"
        assert body["data"]["app"]["name"] == "hooked"
        assert body["data"]["description"] == "Set GREETING config vars"
        assert body["webhook_metadata"]["webhook"]["id"] == hook
        assert body["webhook_metadata"]["event"] == {"id": body["id"], "include": "api:release"}
        for key in ("id", "created_at", "published_at", "actor", "previous_data"):
            assert key in body
        c = hooked.client()
        deliveries = c.get("/apps/hooked/webhook-deliveries").json()
        assert wait_until(lambda: c.get("/apps/hooked/webhook-deliveries").json()[0]["status"] == "succeeded")
        d = c.get("/apps/hooked/webhook-deliveries").json()[0]
        assert d["num_attempts"] == 1 and d["last_attempt"]["code"] == 200
        assert d["id"] == body["webhook_metadata"]["delivery"]["id"] == got.headers["heroku-webhook-id"]
        events = c.get("/apps/hooked/webhook-events").json()
        assert [e["id"] for e in events] == [deliveries[0]["event"]["id"]]
        assert events[0]["payload"]["data"]["version"] == body["data"]["version"]
        info = c.get(f"/apps/hooked/webhooks/{hook}").json()
        assert info["include"] == ["api:release"] and info["level"] == "sync" and "secret" not in info
    finally:
        receiver.stop()


def test_sync_retries_with_back_off_until_the_receiver_accepts(hooked: DaemonThread) -> None:
    receiver = HttpsReceiver(hooked.d.ca, answers=[500, 503]).start()
    try:
        add_webhook(hooked, receiver.url)
        set_config(hooked, A="1")
        c = hooked.client()
        assert wait_until(lambda: c.get("/apps/hooked/webhook-deliveries").json()[0]["status"] == "succeeded")
        d = c.get("/apps/hooked/webhook-deliveries").json()[0]
        assert d["num_attempts"] == 3 and d["last_attempt"]["code"] == 200
        attempt_ids = {json.loads(a.body)["webhook_metadata"]["attempt"]["id"] for a in receiver.attempts}
        assert len(receiver.attempts) == 3 and len(attempt_ids) == 3  # one id per attempt
        assert all(verified(a.body, a.headers["heroku-webhook-hmac-sha256"]) for a in receiver.attempts)
    finally:
        receiver.stop()


def test_notify_makes_one_attempt_and_records_the_failure(hooked: DaemonThread) -> None:
    receiver = HttpsReceiver(hooked.d.ca, answers=[500, 500, 500]).start()
    try:
        add_webhook(hooked, receiver.url, level="notify")
        set_config(hooked, B="2")
        c = hooked.client()
        assert wait_until(lambda: c.get("/apps/hooked/webhook-deliveries").json()[0]["status"] == "failed")
        d = c.get("/apps/hooked/webhook-deliveries").json()[0]
        assert d["num_attempts"] == 1 and d["last_attempt"]["code"] == 500 and d["next_attempt_at"] is None
        assert len(receiver.attempts) == 1
    finally:
        receiver.stop()


def test_an_unreachable_receiver_is_an_error_class_not_a_crash(hooked: DaemonThread) -> None:
    add_webhook(hooked, "https://127.0.0.1:9/nobody", level="notify")
    set_config(hooked, C="3")
    c = hooked.client()
    assert wait_until(lambda: c.get("/apps/hooked/webhook-deliveries").json()[0]["status"] == "failed")
    d = c.get("/apps/hooked/webhook-deliveries").json()[0]
    assert d["last_attempt"]["code"] is None and d["last_attempt"]["error_class"] == "ConnectError"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "ftp://x", "include": ["api:release"], "level": "sync"}, "url must be"),
        ({"url": "https://x", "include": ["api:nope"], "level": "sync"}, "include must name"),
        ({"url": "https://x", "include": [], "level": "sync"}, "include must name"),
        ({"url": "https://x", "include": ["dyno"], "level": "often"}, "level must be"),
    ],
)
def test_bad_webhooks_are_refused(daemon: DaemonThread, body: dict[str, object], says: str) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "picky"}).raise_for_status()
    r = c.post("/apps/picky/webhooks", json=body)
    assert r.status_code == 422 and says in r.json()["message"], r.text
    assert c.get("/apps/picky/webhooks").json() == []


def test_cli_webhooks_round_trip_keeps_the_secret_out(hooked: DaemonThread) -> None:
    env = hooked.env()

    def paas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paas.cli.main", *args, "-a", "hooked"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = paas(
        "webhooks:add", "-i", "api:release,dyno", "-l", "notify", "-u", "https://127.0.0.1:9/x", "-s", SECRET
    )
    assert added.returncode == 0, added.stderr
    assert "Adding webhook to ⬢ hooked... done" in added.stderr
    listed = paas("webhooks")
    assert "https://127.0.0.1:9/x" in listed.stdout and "api:release,dyno" in listed.stdout
    hook_id = hooked.client().get("/apps/hooked/webhooks").json()[0]["id"]
    info = paas("webhooks:info", hook_id)
    assert f"Webhook ID: {hook_id}" in info.stdout and "Level:      notify" in info.stdout
    everything = added.stdout + added.stderr + listed.stdout + info.stdout
    assert SECRET not in everything
    generated = paas("webhooks:add", "-i", "dyno", "-l", "sync", "-u", "https://127.0.0.1:9/y")
    assert "=== Webhook Signing Secret" in generated.stdout
    set_config(hooked, D="4")  # a release: one delivery to a receiver that refuses

    def failed() -> bool:
        return bool(hooked.client().get("/apps/hooked/webhook-deliveries").json()[-1]["status"] == "failed")

    assert wait_until(failed)
    deliveries = paas("webhooks:deliveries").stdout.splitlines()
    assert deliveries[0].split() == [
        "Delivery",
        "ID",
        "Created",
        "Status",
        "Include",
        "Level",
        "Attempts",
        "Code",
        "Error",
        "Next",
        "Attempt",
    ]
    assert "failed" in deliveries[2] and "api:release" in deliveries[2] and "ConnectError" in deliveries[2]
    events = paas("webhooks:events").stdout.splitlines()
    assert events[0].split() == ["Event", "ID", "Resource", "Action", "Published", "At"]
    assert "api:release" in events[2] and "create" in events[2]
    removed = paas("webhooks:remove", hook_id)
    assert removed.returncode == 0 and f"Removing webhook {hook_id} from ⬢ hooked... done" in removed.stderr
    gone = paas("webhooks:info", hook_id)
    assert gone.returncode == 1 and "Couldn't find that webhook." in gone.stderr
