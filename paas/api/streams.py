"""Capability URLs: a log session's `logplex_url` and a release's `output_stream_url`.

Heroku's clients fetch these without the API key (the CLI opens the log session with an
EventSource and the release output with a bare GET), so each URL carries its own credential:
an HMAC, under the daemon's token, of what the URL may show. A log session's grant also names
when it stops being accepted (Heroku's log sessions are short-lived: a tail connected in time
keeps streaming; a reconnect after that is refused and the CLI says the stream timed out).
Nothing is stored: a grant is checked by recomputing its signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass

LOG_SESSION_TTL = 300.0  # seconds a log session URL may be (re)connected to


def _sign(key: str, purpose: str, payload: bytes) -> str:
    digest = hmac.new(key.encode(), purpose.encode() + b"\0" + payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LogGrant:
    """What one log session may read: one app's lines, filtered, until `expires` (epoch s)."""

    app: str
    lines: int
    tail: bool
    source: str | None
    dyno: str | None
    expires: float

    def seal(self, key: str) -> str:
        payload = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_sign(key, 'log-session', payload)}"

    @classmethod
    def open(cls, key: str, sealed: str, now: float | None = None) -> LogGrant | None:
        """The grant a URL carries, if its signature holds and it has not expired."""
        encoded, _, signature = sealed.partition(".")
        try:
            payload = _unb64(encoded)
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(signature.encode(), _sign(key, "log-session", payload).encode()):
            return None
        try:
            grant = cls(**json.loads(payload))
        except (ValueError, TypeError):
            return None
        return grant if grant.expires >= (time.time() if now is None else now) else None


def new_log_grant(app: str, lines: int, tail: bool, source: str | None, dyno: str | None) -> LogGrant:
    return LogGrant(app, lines, tail, source, dyno, time.time() + LOG_SESSION_TTL)


def release_output_signature(key: str, app_id: str, release_id: str) -> str:
    return _sign(key, "release-output", f"{app_id}/{release_id}".encode())


def release_output_ok(key: str, app_id: str, release_id: str, signature: str) -> bool:
    expected = release_output_signature(key, app_id, release_id)
    return hmac.compare_digest(signature.encode(), expected.encode())
