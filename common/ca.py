"""The daemon's one local certificate authority: every TLS need of paas is signed here.

Made at first start under `PAAS_HOME/ca/` (`ca.pem`, and `ca.key` at mode 0600), it signs:
the router's HTTPS certificates (`<app>.localhost`, custom domains), git over TLS, the Kafka
broker and its tenants' client certificates, `rediss://`, and whatever else speaks TLS on
127.0.0.1. Users trust one file (`paas certs:trust` prints its path and how to trust it for
curl, browsers and git); clients of ours load the same file.

Server certificates are issued on demand and kept under `ca/issued/<name>.{pem,key}`; a
certificate whose names changed, or that is within 30 days of its end, is issued again.
A home made before this module existed had its CA under `kafka/tls/`: that CA is adopted, so
the Kafka credentials already handed out keep working.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.config import Settings

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=825)  # what browsers accept for a leaf certificate
RENEW_BEFORE = datetime.timedelta(days=30)
CA_NAME = "paas local CA"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}")


@dataclass(frozen=True)
class IssuedCert:
    cert_pem: str
    key_pem: str
    serial: int


@dataclass(frozen=True)
class CertFiles:
    cert_path: Path
    key_path: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paas"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write atomically, created with `mode` from the start (never briefly world-readable)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _san_entries(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


class LocalCA:
    """One CA per PAAS_HOME. Thread-safe: issuing may run in worker threads."""

    def __init__(self, directory: Path, legacy_dirs: Sequence[Path] = ()):
        self.directory = directory
        self.cert_path = directory / "ca.pem"
        self.key_path = directory / "ca.key"
        self.issued_dir = directory / "issued"
        self._legacy_dirs = tuple(legacy_dirs)
        self._cert: x509.Certificate | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._lock = threading.RLock()

    # ---- the CA itself ----------------------------------------------------------------
    def ensure(self) -> None:
        """Create (or adopt, or load) the CA; idempotent."""
        with self._lock:
            if self._cert is not None:
                return
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.directory, 0o700)
            missing = not (self.cert_path.exists() and self.key_path.exists())
            if missing and not self._adopt_legacy():
                self._create()
            os.chmod(self.key_path, 0o600)
            self._cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{self.key_path} does not hold an EC private key")
            self._key = loaded

    def _adopt_legacy(self) -> bool:
        for legacy in self._legacy_dirs:
            cert, key = legacy / "ca.pem", legacy / "ca.key"
            if cert.is_file() and key.is_file():
                _write_private(self.key_path, key.read_bytes())
                _write_private(self.cert_path, cert.read_bytes(), 0o644)
                return True
        return False

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_NAME))
            .issuer_name(_name(CA_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(key))
        _write_private(self.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    @property
    def ca_pem(self) -> str:
        self.ensure()
        return self.cert_path.read_text()

    # ---- issuing ------------------------------------------------------------------------
    def issue(
        self,
        common_name: str,
        hostnames: Sequence[str] = (),
        client: bool = False,
        validity: datetime.timedelta = LEAF_VALIDITY,
    ) -> IssuedCert:
        """A fresh key and certificate: a server certificate for `hostnames` (DNS names or IP
        literals), or a client certificate whose CN names the principal."""
        self.ensure()
        assert self._cert is not None and self._key is not None
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if hostnames:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_san_entries(hostnames)), critical=False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(
            cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key).decode(), serial
        )

    def issue_client(self, common_name: str) -> IssuedCert:
        return self.issue(common_name, client=True)

    def server_files(self, name: str, hostnames: Sequence[str]) -> CertFiles:
        """The kept certificate `name` for exactly `hostnames`, issued again when its names
        differ or it nears its end. Files: `issued/<name>.pem` and `.key` (0600)."""
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"certificate name {name!r} is not a plain file name")
        wanted = sorted(set(hostnames))
        with self._lock:
            self.ensure()
            self.issued_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            files = CertFiles(self.issued_dir / f"{name}.pem", self.issued_dir / f"{name}.key")
            if not self._still_good(files.cert_path, wanted):
                issued = self.issue(wanted[0] if wanted else name, wanted)
                _write_private(files.key_path, issued.key_pem.encode())
                _write_private(files.cert_path, issued.cert_pem.encode(), 0o644)
            return files

    def _still_good(self, cert_path: Path, hostnames: list[str]) -> bool:
        if not cert_path.is_file() or not cert_path.with_suffix(".key").is_file():
            return False
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        have = sorted(
            [str(v) for v in san.get_values_for_type(x509.DNSName)]
            + [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        )
        assert self._cert is not None
        fresh = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > RENEW_BEFORE
        return have == hostnames and fresh and cert.issuer == self._cert.subject

    # ---- contexts -----------------------------------------------------------------------
    def server_context(
        self,
        name: str,
        hostnames: Sequence[str],
        client_auth: bool = False,
        alpn: Sequence[str] = (),
    ) -> ssl.SSLContext:
        """A TLS 1.2+ server context with the kept certificate `name`; with `client_auth`,
        clients must present a certificate this CA signed."""
        files = self.server_files(name, hostnames)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(files.cert_path, files.key_path)
        if client_auth:
            ctx.load_verify_locations(cafile=str(self.cert_path))
            ctx.verify_mode = ssl.CERT_REQUIRED
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and checks host names)."""
        self.ensure()
        ctx = ssl.create_default_context(cafile=str(self.cert_path))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def trust_instructions(self) -> str:
        """What `paas certs:trust` prints: the file, and how each client is told to trust it."""
        path = self.cert_path
        return "\n".join(
            [
                f"The paas local certificate authority: {path}",
                "",
                f"  curl:     curl --cacert {path} https://<app>.localhost:<tls port>/",
                f"  git:      git config --global http.https://127.0.0.1.sslCAInfo {path}",
                f"            (or GIT_SSL_CAINFO={path} for one command)",
                f"  node:     NODE_EXTRA_CA_CERTS={path}  (the heroku CLI, kafkajs)",
                f"  python:   SSL_CERT_FILE={path}  or  ssl.create_default_context(cafile=...)",
                "  browsers: import it as an authority (Chromium: Settings > Privacy and security >",
                "            Security > Manage certificates > Authorities > Import).",
                "  system:   sudo cp <file> /usr/local/share/ca-certificates/paas.crt && sudo update-ca-certificates",
            ]
        )


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


def local_ca(settings: Settings) -> LocalCA:
    """The CA of this PAAS_HOME (adopting the Kafka CA of a home made before it existed)."""
    return LocalCA(settings.ca_dir, legacy_dirs=[settings.kafka_dir / "tls"])
