"""Secret, time-limited download links for backups (`pg:backups:url`), served by the daemon.

`/pgbackups/<transfer id>.dump?expires=<epoch>&signature=<hmac>`: the signature is an HMAC of
the id and expiry under a key derived from the daemon's token, so links survive a restart and
need no table; a wrong or missing signature or a past expiry is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qs, urlencode, urlsplit

PREFIX = "/pgbackups/"


class Links:
    def __init__(self, token: str, api_url: str, ttl: float):
        self.key = hashlib.sha256(b"paas pg:backups url\0" + token.encode()).digest()
        self.api_url = api_url.rstrip("/")
        self.ttl = ttl

    def _signature(self, transfer_id: str, expires: int) -> str:
        return hmac.new(self.key, f"{transfer_id}\0{expires}".encode(), hashlib.sha256).hexdigest()

    def make(self, transfer_id: str, now: float | None = None) -> tuple[str, int]:
        expires = int((now if now is not None else time.time()) + self.ttl)
        query = urlencode({"expires": expires, "signature": self._signature(transfer_id, expires)})
        return f"{self.api_url}{PREFIX}{transfer_id}.dump?{query}", expires

    def valid(self, transfer_id: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._signature(transfer_id, int(expires)).encode(), signature.encode())

    def parse(self, url: str) -> tuple[str, str, str] | None:
        """(id, expires, signature) when `url` is one of this daemon's links; else None."""
        parts = urlsplit(url)
        mine = urlsplit(self.api_url)
        if (parts.scheme, parts.netloc) != (mine.scheme, mine.netloc) or not parts.path.startswith(PREFIX):
            return None
        name = parts.path[len(PREFIX) :]
        if not name.endswith(".dump"):
            return None
        query = parse_qs(parts.query)
        return name[:-5], query.get("expires", [""])[0], query.get("signature", [""])[0]
