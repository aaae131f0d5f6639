"""SASL/SCRAM-SHA-256 and -512 (RFC 5802, RFC 7677) as Kafka does it, and the credential store.

Credentials are what AlterUserScramCredentials sends: a salt, an iteration count and the salted
password; the broker keeps only StoredKey and ServerKey derived from it (never the password).
The same credentials also verify SASL/PLAIN on this broker (the password is salted with the
stored salt and compared), so tools without SCRAM keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SHA_256, SHA_512 = 1, 2  # ScramMechanism codes in Describe/AlterUserScramCredentials
MECHANISMS = {SHA_256: "SCRAM-SHA-256", SHA_512: "SCRAM-SHA-512"}
BY_NAME = {name: code for code, name in MECHANISMS.items()}
HASHES = {SHA_256: "sha256", SHA_512: "sha512"}
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384  # Kafka's bounds


class ScramError(Exception):
    """The exchange failed; the message is safe to send to the client."""


@dataclass(frozen=True, slots=True)
class ScramCredential:
    mechanism: int
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_salted(cls, mechanism: int, salt: bytes, iterations: int, salted: bytes) -> ScramCredential:
        digest = HASHES[mechanism]
        client_key = hmac.digest(salted, b"Client Key", digest)
        return cls(
            mechanism,
            salt,
            iterations,
            hashlib.new(digest, client_key).digest(),
            hmac.digest(salted, b"Server Key", digest),
        )

    @classmethod
    def from_password(
        cls, mechanism: int, password: str, iterations: int = MIN_ITERATIONS, salt: bytes | None = None
    ) -> ScramCredential:
        salt = salt if salt is not None else secrets.token_bytes(24)
        return cls.from_salted(
            mechanism, salt, iterations, salted_password(mechanism, password, salt, iterations)
        )

    def verify_password(self, password: str) -> bool:
        other = ScramCredential.from_password(self.mechanism, password, self.iterations, self.salt)
        return hmac.compare_digest(other.stored_key, self.stored_key)

    def to_json(self) -> dict[str, object]:
        return {
            "mechanism": self.mechanism,
            "salt": self.salt.hex(),
            "iterations": self.iterations,
            "stored_key": self.stored_key.hex(),
            "server_key": self.server_key.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ScramCredential:
        return cls(
            int(str(data["mechanism"])),
            bytes.fromhex(str(data["salt"])),
            int(str(data["iterations"])),
            bytes.fromhex(str(data["stored_key"])),
            bytes.fromhex(str(data["server_key"])),
        )


def salted_password(mechanism: int, password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(HASHES[mechanism], password.encode(), salt, iterations)


def _attributes(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise ScramError(f"malformed SCRAM message part {part[:20]!r}")
        out[key] = value
    return out


def _unescape(name: str) -> str:
    return name.replace("=2C", ",").replace("=3D", "=")


class ScramServer:
    """One server-side exchange: client-first → server-first → client-final → server-final."""

    def __init__(self, mechanism: int):
        self.mechanism = mechanism
        self.username: str | None = None
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credential: ScramCredential | None = None

    def client_first(self, token: bytes) -> str:
        """Returns the username the client claims (look its credential up, then call `server_first`)."""
        text = token.decode("utf-8", errors="strict")
        gs2, _, bare = text.partition(",")
        authzid, _, bare = bare.partition(",")
        if gs2 not in ("n", "y") or (authzid and not authzid.startswith("a=")):
            raise ScramError("SCRAM channel binding is not supported")
        attrs = _attributes(bare)
        if "n" not in attrs or "r" not in attrs:
            raise ScramError("SCRAM client-first message lacks a user or a nonce")
        self._client_first_bare = bare
        self._nonce = attrs["r"] + secrets.token_urlsafe(18)
        self.username = _unescape(attrs["n"])
        return self.username

    def server_first(self, credential: ScramCredential | None) -> bytes:
        # an unknown user gets a made-up salt so the failure shows only at the proof (RFC 5802 §9)
        self._credential = credential
        salt = credential.salt if credential is not None else secrets.token_bytes(24)
        iterations = credential.iterations if credential is not None else MIN_ITERATIONS
        self._server_first = f"r={self._nonce},s={base64.b64encode(salt).decode()},i={iterations}"
        return self._server_first.encode()

    def client_final(self, token: bytes) -> bytes:
        """Checks the proof; returns server-final (`v=...`) or raises ScramError."""
        text = token.decode("utf-8", errors="strict")
        without_proof, _, proof_part = text.rpartition(",p=")
        attrs = _attributes(without_proof)
        # Apache Kafka accepts any nonce that ends with ours: librdkafka before 2.1 sends its own
        # nonce again in front of the combined one
        if not attrs.get("r", "").endswith(self._nonce) or not proof_part:
            raise ScramError("SCRAM nonce mismatch")
        credential = self._credential
        if credential is None:
            raise ScramError(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                + MECHANISMS[self.mechanism]
            )
        digest = HASHES[self.mechanism]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = hmac.digest(credential.stored_key, auth_message, digest)
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise ScramError("SCRAM proof is not base64") from None
        if len(proof) != len(signature):
            raise ScramError("SCRAM proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(digest, client_key).digest(), credential.stored_key):
            raise ScramError(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                + MECHANISMS[self.mechanism]
            )
        server_signature = hmac.digest(credential.server_key, auth_message, digest)
        return b"v=" + base64.b64encode(server_signature)


class ScramClient:
    """The client side, for paas's own admin client and the tests."""

    def __init__(self, mechanism: int, username: str, password: str):
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self._nonce = secrets.token_urlsafe(18)
        self._first_bare = f"n={username.replace('=', '=3D').replace(',', '=2C')},r={self._nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = _attributes(text)
        if not attrs.get("r", "").startswith(self._nonce):
            raise ScramError("server nonce does not extend ours")
        salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
        digest = HASHES[self.mechanism]
        salted = salted_password(self.mechanism, self.password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", digest)
        stored_key = hashlib.new(digest, client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self._first_bare},{text},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, digest)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = hmac.digest(hmac.digest(salted, b"Server Key", digest), auth_message, digest)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        attrs = _attributes(server_final.decode())
        if "e" in attrs:
            raise ScramError(attrs["e"])
        if base64.b64decode(attrs.get("v", "")) != self._server_signature:
            raise ScramError("the server's SCRAM signature does not match")
