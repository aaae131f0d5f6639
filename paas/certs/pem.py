"""A user's own certificate (`paas certs:add CRT KEY`): read, checked, described.

What Heroku checks when a certificate is added, we check too: the chain parses, the key parses
and belongs to the first certificate, the certificate is a server certificate that has not
ended. Errors name the problem; nothing is stored before every check passed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from common.errors import invalid

MAX_PEM = 64 * 1024  # a chain of a few certificates; anything bigger is not a certificate


@dataclass(frozen=True)
class CertDetails:
    subject: str
    issuer: str
    names: tuple[str, ...]  # DNS names of the subjectAltName (or the CN when there is none)
    starts_at: datetime.datetime
    expires_at: datetime.datetime
    self_signed: bool
    serial: int

    def covers(self, hostname: str) -> bool:
        return any(name_matches(pattern, hostname) for pattern in self.names)


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: exact, or `*.` standing for exactly one left-most label."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == hostname


def details(cert: x509.Certificate) -> CertDetails:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    if not names:
        names = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME))
    return CertDetails(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=names,
        starts_at=cert.not_valid_before_utc,
        expires_at=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
        serial=cert.serial_number,
    )


def read_details(pem: bytes) -> CertDetails:
    return details(x509.load_pem_x509_certificate(pem))


def check_pair(chain_pem: str, key_pem: str) -> CertDetails:
    """The details of `chain_pem`'s first certificate, once the pair is known to be usable."""
    if len(chain_pem) > MAX_PEM or len(key_pem) > MAX_PEM:
        raise invalid("The certificate or key is too large to be a PEM file.")
    if not (chain_pem.isascii() and key_pem.isascii()):
        raise invalid("A PEM file is ASCII text: the certificate or key holds other characters.")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        raise invalid("The certificate is not a PEM-encoded X.509 certificate.") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise invalid("The private key is not a PEM-encoded, unencrypted private key.") from None
    if not isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        raise invalid("The private key is of a kind TLS cannot use.")
    leaf = chain[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise invalid("The private key does not match the certificate.")
    found = details(leaf)
    if found.expires_at <= datetime.datetime.now(datetime.UTC):
        raise invalid(f"The certificate expired at {found.expires_at:%Y-%m-%d %H:%M} UTC.")
    if not found.names:
        raise invalid("The certificate names no host (no subjectAltName DNS name, no CN).")
    return found
