"""Who may use the dataclips pages: the daemon's token as a bearer, or a login session cookie.

A session cookie is `<issued>.<nonce>.<mac>`, the MAC an HMAC of the first two parts keyed by
the daemon's token: nothing is stored, a daemon restart keeps people logged in, a new token logs
everyone out. It expires `ttl` after login (the cookie's Max-Age says the same), and logging out
revokes it here too, so a copied cookie dies with the logout. Each session has a CSRF token (an
HMAC of its nonce) that every state-changing request made with the cookie must carry.

Every comparison is on bytes: a header or cookie with non-ASCII characters is simply not valid
(401), never a TypeError from `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "paas_dataclips"
SESSION_TTL = 8 * 3600  # a working day
MAX_REVOKED = 10_000
CLOCK_SKEW = 60


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of any two strings (non-ASCII included)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


@dataclass(frozen=True)
class Session:
    issued: int
    nonce: str

    @property
    def expires(self) -> int:
        return self.issued + SESSION_TTL


class Sessions:
    def __init__(self, token: Callable[[], str], ttl: int = SESSION_TTL):
        self._token = token
        self.ttl = ttl
        self._revoked: dict[str, int] = {}  # nonce -> when its cookie would expire anyway
        self._not_before = 0  # sessions issued earlier are void (the revoked list overflowed)
        self.revocation_overflows = 0

    def _mac(self, text: str) -> str:
        return hmac.new(self._token().encode(), text.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> tuple[str, Session]:
        session = Session(int(time.time()), secrets.token_urlsafe(18))
        body = f"{session.issued}.{session.nonce}"
        return f"{body}.{self._mac(body)}", session

    def check(self, value: str) -> Session | None:
        if not self._token() or value.count(".") != 2:
            return None
        issued_text, nonce, mac = value.split(".")
        if not same_secret(mac, self._mac(f"{issued_text}.{nonce}")) or not issued_text.isdigit():
            return None
        issued, now = int(issued_text), time.time()
        if issued < self._not_before or issued > now + CLOCK_SKEW or now >= issued + self.ttl:
            return None
        if nonce in self._revoked:
            return None
        return Session(issued, nonce)

    def csrf_token(self, session: Session) -> str:
        return self._mac(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session, given: str) -> bool:
        return bool(given) and same_secret(given, self.csrf_token(session))

    def revoke(self, session: Session) -> None:
        now = time.time()
        for nonce in [n for n, expires in self._revoked.items() if expires <= now]:
            del self._revoked[nonce]
        if len(self._revoked) >= MAX_REVOKED:
            # never forget a revocation early: void every session issued so far instead
            self._revoked.clear()
            self._not_before = int(now) + 1
            self.revocation_overflows += 1
            return
        self._revoked[session.nonce] = session.issued + self.ttl
