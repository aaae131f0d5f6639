"""Heroku SSL in the daemon: ACM for custom domains, uploaded SNI endpoints, renewal, the API
shapes, the CLI, and the TLS port serving what they say (real handshakes against the daemon)."""

from __future__ import annotations

import datetime
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.router_harness import parse_line


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonThread]:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonThread(daemon_settings(home)).start()
    try:
        yield d
    finally:
        d.stop()


def served_cert(d: DaemonThread, server_name: str, verify: bool = True) -> x509.Certificate:
    """The certificate the TLS port presents for `server_name` (verified against the local CA)."""
    ctx = ssl.create_default_context(cafile=str(d.d.ca.cert_path))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", d.d.router_tls_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(str(n) for n in san.get_values_for_type(x509.DNSName))


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def own_cert(hostname: str, days: int = 90) -> tuple[str, str]:
    """A self-signed certificate and key of the user's own (not from the local CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def domain(c: httpx.Client, app: str, hostname: str) -> dict[str, Any]:
    return next(d for d in c.get(f"/apps/{app}/domains").json() if d["hostname"] == hostname)


def test_acm_issues_for_custom_domains_and_the_port_serves_it(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "shop"}).raise_for_status()
    # every app's <app>.localhost is covered from the start, ACM or not (herokuapp.com's way)
    assert wait_for(lambda: names(served_cert(daemon, "shop.localhost", verify=False)) == ["shop.localhost"])
    assert names(served_cert(daemon, "shop.localhost")) == ["shop.localhost"]
    assert c.get("/apps/shop").json()["acm"] is False
    c.post("/apps/shop/domains", json={"hostname": "www.shop.test"}).raise_for_status()
    assert domain(c, "shop", "www.shop.test")["acm_status"] is None
    served = served_cert(daemon, "www.shop.test", verify=False)
    assert names(served) == ["localhost"]  # the default certificate

    out = daemon.cli("certs:auto:enable", "-a", "shop")
    assert out.returncode == 0, out.stderr
    assert "Enabling Automatic Certificate Management for ⬢ shop... done" in out.stderr + out.stdout
    assert c.get("/apps/shop").json()["acm"] is True
    assert wait_for(lambda: domain(c, "shop", "www.shop.test")["acm_status"] == "cert issued")
    assert names(served_cert(daemon, "www.shop.test")) == ["www.shop.test"]
    # a domain added later is issued for when it is added: the certificate covers both
    c.post("/apps/shop/domains", json={"hostname": "api.shop.test"}).raise_for_status()
    assert wait_for(
        lambda: (
            names(served_cert(daemon, "api.shop.test", verify=False)) == ["api.shop.test", "www.shop.test"]
        )
    )
    assert names(served_cert(daemon, "www.shop.test")) == ["api.shop.test", "www.shop.test"]
    app_id = c.get("/apps/shop").json()["id"]
    key = daemon.d.ca.issued_dir / f"acm-{app_id}.key"
    assert key.stat().st_mode & 0o777 == 0o600

    status = c.get("/apps/shop/acm").json()
    assert status["ssl_cert"]["cert_domains"] == ["api.shop.test", "www.shop.test"]
    assert {d["acm_status"] for d in status["domains"]} == {"cert issued"}
    out = daemon.cli("certs:auto", "-a", "shop")
    assert out.returncode == 0, out.stderr
    assert "=== Automatic Certificate Management is enabled on shop" in out.stdout
    assert "www.shop.test" in out.stdout and "Cert issued" in out.stdout
    listing = daemon.cli("certs", "-a", "shop")
    assert "ACM" in listing.stdout and "api.shop.test, www.shop.test" in listing.stdout
    # Heroku lists ACM's certificate among the SNI endpoints (`heroku certs` shows Type ACM)
    (acm_ep,) = c.get("/apps/shop/sni-endpoints").json()
    assert (
        acm_ep["ssl_cert"]["acm"] is True
        and acm_ep["ssl_cert"]["cert_domains"] == status["ssl_cert"]["cert_domains"]
    )
    assert c.get(f"/apps/shop/sni-endpoints/{acm_ep['name']}").json()["id"] == acm_ep["id"]
    refused = c.delete(f"/apps/shop/sni-endpoints/{acm_ep['id']}")
    assert refused.status_code == 422 and "certs:auto:disable" in refused.json()["message"]

    out = daemon.cli("certs:auto:disable", "-a", "shop")
    assert out.returncode == 0, out.stderr
    assert c.get("/apps/shop").json()["acm"] is False
    assert domain(c, "shop", "www.shop.test")["acm_status"] is None
    assert "localhost" in names(served_cert(daemon, "www.shop.test", verify=False))  # back to the default
    assert "is disabled on shop" in daemon.cli("certs:auto", "-a", "shop").stdout


def test_renewal_before_the_end(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "renew"}).raise_for_status()
    c.post("/apps/renew/domains", json={"hostname": "renew.example.test"}).raise_for_status()
    c.post("/apps/renew/acm").raise_for_status()
    first = served_cert(daemon, "renew.example.test")
    # put a certificate 5 days from its end in place, as time would
    ca = daemon.d.ca
    app_id = c.get("/apps/renew").json()["id"]
    short = ca.issue("renew.example.test", ["renew.example.test"], validity=datetime.timedelta(days=5))
    (ca.issued_dir / f"acm-{app_id}.pem").write_text(short.cert_pem)
    (ca.issued_dir / f"acm-{app_id}.key").write_text(short.key_pem)
    daemon.d.certs.changed()  # what the hourly check does (PAAS_ACM_CHECK_INTERVAL)
    old = (short.serial, first.serial_number)
    assert wait_for(lambda: served_cert(daemon, "renew.example.test").serial_number not in old)
    cert = served_cert(daemon, "renew.example.test")
    assert cert.serial_number not in (short.serial, first.serial_number)
    assert cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=30)


def test_an_uploaded_certificate_serves_its_domains(daemon: DaemonThread, tmp_path: Path) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "own"}).raise_for_status()
    c.post("/apps/own/domains", json={"hostname": "www.own.test"}).raise_for_status()
    chain, key = own_cert("www.own.test")
    (tmp_path / "server.crt").write_text(chain)
    (tmp_path / "server.key").write_text(key)
    out = daemon.cli("certs:add", str(tmp_path / "server.crt"), str(tmp_path / "server.key"), "-a", "own")
    assert out.returncode == 0, out.stderr
    assert "Common Name(s):" in out.stdout and "www.own.test" in out.stdout and "self signed" in out.stdout
    eps = c.get("/apps/own/sni-endpoints").json()
    assert len(eps) == 1
    ep = eps[0]
    assert set(ep) >= {
        "id",
        "name",
        "app",
        "certificate_chain",
        "domains",
        "ssl_cert",
        "created_at",
        "updated_at",
    }
    assert ep["ssl_cert"]["cert_domains"] == ["www.own.test"] and ep["ssl_cert"]["self_signed?"] is True
    assert ep["domains"] == [domain(c, "own", "www.own.test")["id"]]
    assert domain(c, "own", "www.own.test")["sni_endpoint"] == {"id": ep["id"], "name": ep["name"]}
    served = served_cert(daemon, "www.own.test", verify=False)
    assert served.public_bytes(serialization.Encoding.PEM).decode() == chain
    key_file = daemon.settings.certs_dir / "sni" / f"{ep['id']}.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    out = daemon.cli("certs:remove", "--name", ep["name"], "--confirm", "own", "-a", "own")
    assert out.returncode == 0, out.stderr
    assert c.get("/apps/own/sni-endpoints").json() == [] and not key_file.exists()
    assert "localhost" in names(served_cert(daemon, "www.own.test", verify=False))


def bad_bodies() -> list[tuple[dict[str, str], str]]:
    chain, _key = own_cert("bad.test")
    _, other_key = own_cert("bad.test")
    expired_chain, expired_key = own_cert("bad.test", days=-1)
    return [
        ({"certificate_chain": "not a certificate", "private_key": other_key}, "not a PEM-encoded X.509"),
        (
            {"certificate_chain": chain, "private_key": "not a key"},
            "not a PEM-encoded, unencrypted private key",
        ),
        ({"certificate_chain": chain, "private_key": other_key}, "does not match the certificate"),
        ({"certificate_chain": expired_chain, "private_key": expired_key}, "The certificate expired at"),
        ({"certificate_chain": chain}, "private_key"),
    ]


def test_bad_certificates_are_refused_whole(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "bad"}).raise_for_status()
    for body, message in bad_bodies():
        resp = c.post("/apps/bad/sni-endpoints", json=body)
        assert resp.status_code == 422, resp.text
        assert message in resp.text
    assert c.get("/apps/bad/sni-endpoints").json() == []
    sni = daemon.settings.certs_dir / "sni"
    assert not sni.exists() or list(sni.iterdir()) == []  # nothing half-written
    assert c.get("/apps/nope/sni-endpoints").status_code == 404
    assert c.delete("/apps/bad/sni-endpoints/tokyo-1").status_code == 404
    missing = daemon.cli("certs:add", "/nonexistent.crt", "/nonexistent.key", "-a", "bad")
    assert missing.returncode != 0 and "cannot read the certificate" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_https_requests_are_logged_as_https(daemon: DaemonThread) -> None:
    c = daemon.client()
    c.post("/apps", json={"name": "blank"}).raise_for_status()
    ctx = ssl.create_default_context(cafile=str(daemon.d.ca.cert_path))
    port = daemon.d.router_tls_port
    with httpx.Client(verify=ctx, http2=True) as client:
        resp = client.get(
            f"https://127.0.0.1:{port}/", headers={"host": "blank.localhost"},
            extensions={"sni_hostname": "blank.localhost"},
        )  # fmt: skip
    assert resp.http_version == "HTTP/2" and resp.status_code in (502, 503)
    status = daemon.client().get("/status").json()
    assert status["router_tls_port"] == port

    def router_line() -> dict[str, str] | None:
        lines = [line.text for line in daemon.d.logs.recent("blank", 1500, source="heroku", dyno="router")]
        return parse_line(lines[-1]) if lines else None

    line = wait_for(router_line, 10)
    assert line is not None and line["protocol"] == "http2.0" and line["tls"] == "true"
    assert line["code"] in ("H14", "H81") and line["host"] == "blank.localhost"
