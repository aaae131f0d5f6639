"""The one local CA: made once per home, private key 0600, trusted by a real TLS handshake."""

from __future__ import annotations

import asyncio
import ssl
import stat
from pathlib import Path

from common.ca import LocalCA


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    ca.ensure()
    first = ca.cert_path.read_bytes()
    assert _mode(ca.key_path) == 0o600 and _mode(tmp_path / "ca") == 0o700
    again = LocalCA(tmp_path / "ca")
    again.ensure()
    assert again.cert_path.read_bytes() == first


def test_a_legacy_kafka_ca_is_adopted(tmp_path: Path) -> None:
    old = LocalCA(tmp_path / "kafka" / "tls")
    old.ensure()
    ca = LocalCA(tmp_path / "ca", legacy_dirs=[tmp_path / "kafka" / "tls"])
    ca.ensure()
    assert ca.cert_path.read_bytes() == old.cert_path.read_bytes()


def test_server_certificate_is_kept_and_reissued_when_names_change(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    files = ca.server_files("router", ["demo.localhost", "127.0.0.1"])
    kept = files.cert_path.read_bytes()
    assert _mode(files.key_path) == 0o600
    assert ca.server_files("router", ["127.0.0.1", "demo.localhost"]).cert_path.read_bytes() == kept
    assert ca.server_files("router", ["other.localhost"]).cert_path.read_bytes() != kept


async def test_a_client_trusting_the_ca_completes_a_handshake(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca")
    server_ctx = ca.server_context("test", ["demo.localhost", "127.0.0.1"])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ca.client_context(), server_hostname="demo.localhost"
        )
        assert await reader.read() == b"hi"
        writer.close()
        untrusting = ssl.create_default_context()
        try:
            await asyncio.open_connection("127.0.0.1", port, ssl=untrusting, server_hostname="demo.localhost")
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("a client without the CA must refuse the certificate")
    finally:
        server.close()
        await server.wait_closed()
