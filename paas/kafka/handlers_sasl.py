"""SASL: SaslHandshake and SaslAuthenticate for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.

Users and their SCRAM credentials are what AlterUserScramCredentials stored; the platform's
admin user `paas` authenticates with the daemon's API token. SaslHandshake v0 clients send the
tokens raw (no Kafka header): the server loop hands those to `raw_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from kio.schema.errors import ErrorCode

from . import protocol as P
from .auth import ADMIN_USER, Principal
from .scram import BY_NAME, SHA_512, ScramCredential, ScramError, ScramServer
from .session import BrokerCore, Handler, Reply, Session

log = logging.getLogger("paas.kafka")
E = ErrorCode
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
AUTH_FAILED = "Authentication failed: Invalid username or password"


class SaslHandlers(BrokerCore):
    _admin_scram: dict[tuple[int, str], ScramCredential]
    _plain_ok: dict[tuple[str, bytes], ScramCredential]

    def sasl_handlers(self) -> dict[int, Handler]:
        self._admin_scram = {}
        self._plain_ok = {}
        return {P.SASL_HANDSHAKE: self.sasl_handshake, P.SASL_AUTHENTICATE: self.sasl_authenticate}

    async def sasl_handshake(self, s: Session, req: P.Request) -> Reply:
        if s.principal.authenticated and s.listener == "plain":
            return self.respond(req, {"error_code": E.illegal_sasl_state, "mechanisms": SASL_MECHANISMS})
        if req.body.mechanism not in SASL_MECHANISMS:
            return self.respond(
                req, {"error_code": E.unsupported_sasl_mechanism, "mechanisms": SASL_MECHANISMS}
            )
        s.sasl_mechanism = req.body.mechanism
        s.sasl_state = None
        s.sasl_stage = "v0_token" if req.api_version == 0 else "authenticate"
        return self.respond(req, {"error_code": E.none, "mechanisms": SASL_MECHANISMS})

    async def sasl_authenticate(self, s: Session, req: P.Request) -> Reply:
        if s.sasl_stage != "authenticate":
            values = {
                "error_code": E.illegal_sasl_state,
                "auth_bytes": b"",
                "error_message": "SaslHandshake must come first",
            }
            return self.respond(req, values, close=True)
        reply, failure = self.sasl_step(s, bytes(req.body.auth_bytes))
        if failure is not None:
            values = {"error_code": E.sasl_authentication_failed, "auth_bytes": b"", "error_message": failure}
            return self.respond(req, values, close=True)
        return self.respond(req, {"error_code": E.none, "auth_bytes": reply or b"", "session_lifetime": 0})

    def raw_token(self, s: Session, token: bytes) -> tuple[bytes | None, str | None]:
        """A SaslHandshake v0 token: (bytes to send back, or None when done; failure message)."""
        return self.sasl_step(s, token)

    def sasl_step(self, s: Session, token: bytes) -> tuple[bytes | None, str | None]:
        """One round of the exchange: (token for the client, failure message or None)."""
        if s.sasl_mechanism == "PLAIN":
            principal = self.authenticate_plain(token)
            return self._finish(s, principal, b"")
        mechanism = BY_NAME[s.sasl_mechanism or "SCRAM-SHA-512"]
        try:
            if s.sasl_state is None:
                server = ScramServer(mechanism)
                user = server.client_first(token)
                s.sasl_state = server
                return server.server_first(self.scram_credential(user, mechanism)), None
            server = s.sasl_state
            final = server.client_final(token)
        except (ScramError, UnicodeDecodeError, ValueError) as exc:
            return self._fail(s, str(exc) if isinstance(exc, ScramError) else AUTH_FAILED)
        return self._finish(s, Principal(server.username), final)

    def _finish(
        self, s: Session, principal: Principal | None, token: bytes
    ) -> tuple[bytes | None, str | None]:
        if principal is None:
            return self._fail(s, AUTH_FAILED)
        s.principal = principal
        s.sasl_stage = None
        s.sasl_state = None
        return token, None

    def _fail(self, s: Session, message: str) -> tuple[bytes | None, str | None]:
        self.stats.authentication_failures += 1
        log.warning("kafka: SASL %s authentication failed from %s", s.sasl_mechanism, s.peer)
        s.sasl_stage = None
        s.sasl_state = None
        return None, message

    def scram_credential(self, user: str, mechanism: int) -> ScramCredential | None:
        if user == ADMIN_USER:
            secret = self.admin_password()
            if not secret:
                return None
            cached = self._admin_scram.get((mechanism, secret))
            if cached is None:
                self._admin_scram.clear()
                cached = self._admin_scram[(mechanism, secret)] = ScramCredential.from_password(
                    mechanism, secret
                )
            return cached
        return self.registry.scram.get(user, {}).get(mechanism)

    def authenticate_plain(self, token: bytes) -> Principal | None:
        parts = token.split(b"\0")
        if len(parts) != 3:
            return None
        try:
            user, password = parts[1].decode(), parts[2].decode()
        except UnicodeDecodeError:
            return None
        if user == ADMIN_USER:
            secret = self.admin_password()
            ok = bool(secret) and hmac.compare_digest((secret or "").encode(), password.encode())
            return Principal(user) if ok else None
        creds = self.registry.scram.get(user, {})
        credential = creds.get(SHA_512) or next(iter(creds.values()), None)
        if credential is None:
            return None
        # salting costs milliseconds: remember passwords that matched this very credential
        key = (user, hashlib.sha256(password.encode()).digest())
        if self._plain_ok.get(key) is credential or credential.verify_password(password):
            if len(self._plain_ok) > 1000:
                self._plain_ok.clear()
            self._plain_ok[key] = credential
            return Principal(user)
        return None
