"""The daemon's own certificate authority for the mutual-TLS listener (as Heroku issues).

One CA per PAAS_HOME (`<kafka_dir>/tls/`): it signs the broker's server certificate
(SAN localhost + 127.0.0.1) and one client certificate per tenant (CN = tenant id). The
broker trusts only this CA and maps a presented certificate to its tenant by CN *and*
serial number, so a rotated (reset) credential stops working at once.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class IssuedCert:
    cert_pem: str
    key_pem: str
    serial: int


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paas"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


class CertificateAuthority:
    def __init__(self, directory: Path):
        self.directory = directory
        self.ca_cert_path = directory / "ca.pem"
        self.ca_key_path = directory / "ca.key"
        self.server_cert_path = directory / "server.pem"
        self.server_key_path = directory / "server.key"
        self._ca_cert: x509.Certificate | None = None
        self._ca_key: ec.EllipticCurvePrivateKey | None = None

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not (self.ca_cert_path.exists() and self.ca_key_path.exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name("paas Kafka CA"))
                .issuer_name(_name("paas Kafka CA"))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            self._write(self.ca_key_path, _key_pem(key))
            self._write(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self._ca_cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        self._ca_key = loaded
        if not (self.server_cert_path.exists() and self.server_key_path.exists()):
            issued = self._issue("localhost", server=True)
            self._write(self.server_key_path, issued.key_pem.encode())
            self._write(self.server_cert_path, issued.cert_pem.encode())

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    @property
    def ca_pem(self) -> str:
        return self.ca_cert_path.read_text()

    def issue_client(self, tenant_id: str) -> IssuedCert:
        return self._issue(tenant_id, server=False)

    def _issue(self, cn: str, server: bool) -> IssuedCert:
        assert self._ca_cert is not None and self._ca_key is not None
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        return IssuedCert(
            cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key).decode(), serial
        )

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert_path, self.server_key_path)
        ctx.load_verify_locations(cafile=str(self.ca_cert_path))
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> tuple[str, int] | None:
    """(common name, serial) of the verified client certificate, if any."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    cn = None
    for rdn in cert.get("subject", ()):
        for pair in rdn:
            if pair[0] == "commonName":
                cn = str(pair[1])
    serial = cert.get("serialNumber")
    if cn is None or not isinstance(serial, str):
        return None
    return cn, int(serial, 16)
