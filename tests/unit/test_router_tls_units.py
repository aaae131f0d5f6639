"""The pure parts of the TLS port: the `protocol=` field, HTTP/2 headers → an HTTP/1.1 head,
certificate choice by SNI name."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.ca import LocalCA
from router.certstore import CertPaths, CertStore
from router.h2 import Malformed, request_head
from router.logline import protocol_field
from router.tls import tls_version_name


def test_protocol_field_per_router_and_port() -> None:
    assert protocol_field(False) == "http"
    assert protocol_field(True) == "http1.1 tls=false"
    assert protocol_field(False, "tls1.3") == "https"
    assert protocol_field(True, "tls1.2") == "http1.1 tls=true tls_version=tls1.2"
    assert protocol_field(False, "tls1.3", http2=True) == "http2.0 tls=true tls_version=tls1.3"
    assert tls_version_name("TLSv1.3") == "tls1.3" and tls_version_name(None) == "unknown"


BASE = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"demo.localhost:5443"),
    (b":path", b"/a?b=1"),
]


def test_request_head_without_a_body() -> None:
    head, chunked, head_only = request_head([*BASE, (b"accept", b"*/*")], ended=True)
    assert head == (
        b"GET /a?b=1 HTTP/1.1\r\nhost: demo.localhost:5443\r\naccept: */*\r\nconnection: close\r\n\r\n"
    )
    assert not chunked and not head_only


def test_request_head_body_framing_and_cookies() -> None:
    post = [(b":method", b"POST"), *BASE[1:]]
    head, chunked, _ = request_head([*post, (b"cookie", b"a=1"), (b"cookie", b"b=2")], ended=False)
    assert chunked and b"transfer-encoding: chunked\r\n" in head and b"cookie: a=1; b=2\r\n" in head
    head, chunked, _ = request_head([*post, (b"content-length", b"3")], ended=False)
    assert not chunked and b"content-length: 3\r\n" in head and b"transfer-encoding" not in head
    _, _, head_only = request_head([(b":method", b"HEAD"), *BASE[1:]], ended=True)
    assert head_only


@pytest.mark.parametrize(
    "headers",
    [
        [*BASE[:3], (b":path", b"/a b")],
        [*BASE[:3], (b":path", b"a")],
        [*BASE[:3], (b":path", b"")],
        [(b":method", b"CONNECT"), *BASE[1:]],
        [(b":method", b"G(T"), *BASE[1:]],
        [*BASE, (b"x", b"a\r\nb: c")],
        [*BASE, (b"x", b"a\x00")],
        [(b":method", b"GET"), (b":path", b"/")],  # no :authority, no host
        [(b":method", b"GET"), (b":authority", b"a b"), (b":path", b"/")],
    ],
)
def test_malformed_requests_never_become_http11(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(Malformed):
        request_head(headers, ended=True)


def test_sni_picks_the_certificate_and_falls_back_to_the_default(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    default = ca.server_files("router-default", ["localhost", "127.0.0.1"])
    demo = ca.server_files("app-demo", ["demo.localhost"])
    store = CertStore(CertPaths(str(default.cert_path), str(default.key_path)))
    store.update({"Demo.Localhost.": CertPaths(str(demo.cert_path), str(demo.key_path))})
    assert store.hostnames() == ["demo.localhost"]
    assert store.context_for("DEMO.localhost") is store.context_for("demo.localhost")
    assert store.context_for("demo.localhost") is not store.default_context
    assert store.context_for("other.localhost") is store.default_context
    assert store.context_for(None) is store.default_context
