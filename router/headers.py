"""Request/response header rules: which headers the router rewrites, drops or adds.

Request (client → dyno), as Heroku's router does it:
  X-Request-Id      kept when the client's value is 20–200 chars of [A-Za-z0-9+/=-], else a UUID
  X-Forwarded-For   the client's IP appended to any list the client sent
  X-Forwarded-Proto `http`, or `https` on the TLS port (router.tls); client values are untrusted
  X-Forwarded-Port  the port the client connected to (the TLS port for HTTPS)
  X-Request-Start   epoch milliseconds when the router received the request
  Via               `1.1 vegur` appended (Router 2.0: `1.1 heroku-router`)
  Connect-Time, Total-Route-Time (ms; legacy router only)
Hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade unless
upgrading, Transfer-Encoding — the router re-frames bodies itself) are dropped both ways.

Limits (vegur's): request line and header value 8192 bytes, header name 1000 bytes, 1000
headers, 1 MiB of request head in all; response status line 8192 bytes, response header
line 512 KiB, Set-Cookie 8192 bytes, 1 MiB of response head in all.
"""

from __future__ import annotations

import os
import re

MAX_REQUEST_LINE = 8192
MAX_HEADER_NAME = 1000
MAX_HEADER_VALUE = 8192
MAX_HEADERS = 1000
MAX_REQUEST_HEAD = 1 << 20

MAX_STATUS_LINE = 8192
MAX_RESPONSE_HEADER_LINE = 512 * 1024
MAX_COOKIE = 8192
MAX_RESPONSE_HEAD = 1 << 20

_REQUEST_ID_OK = re.compile(rb"[A-Za-z0-9+/=\-]{20,200}")

# request header (lower-case) → how the router treats it
H_HOST = 1
H_CONTENT_LENGTH = 2
H_TRANSFER_ENCODING = 3
H_CONNECTION = 4
H_EXPECT = 5
H_UPGRADE = 6
H_REQUEST_ID = 7
H_FORWARDED_FOR = 8
H_VIA = 9
H_DROP = 0

REQUEST_SPECIAL: dict[bytes, int] = {
    b"host": H_HOST,
    b"content-length": H_CONTENT_LENGTH,
    b"transfer-encoding": H_TRANSFER_ENCODING,
    b"connection": H_CONNECTION,
    b"expect": H_EXPECT,
    b"upgrade": H_UPGRADE,
    b"x-request-id": H_REQUEST_ID,
    b"x-forwarded-for": H_FORWARDED_FOR,
    b"via": H_VIA,
    b"keep-alive": H_DROP,
    b"proxy-connection": H_DROP,
    b"te": H_DROP,
    b"trailer": H_DROP,
    b"trailers": H_DROP,
    b"x-forwarded-proto": H_DROP,
    b"x-forwarded-port": H_DROP,
    b"x-request-start": H_DROP,
    b"connect-time": H_DROP,
    b"total-route-time": H_DROP,
}

# response header (lower-case) → treatment
R_CONTENT_LENGTH = 1
R_TRANSFER_ENCODING = 2
R_CONNECTION = 3
R_UPGRADE = 4
R_SET_COOKIE = 5
R_DROP = 0

RESPONSE_SPECIAL: dict[bytes, int] = {
    b"content-length": R_CONTENT_LENGTH,
    b"transfer-encoding": R_TRANSFER_ENCODING,
    b"connection": R_CONNECTION,
    b"upgrade": R_UPGRADE,
    b"set-cookie": R_SET_COOKIE,
    b"keep-alive": R_DROP,
    b"proxy-connection": R_DROP,
    b"trailer": R_DROP,
    b"te": R_DROP,
}


def valid_request_id(value: bytes) -> bool:
    return _REQUEST_ID_OK.fullmatch(value) is not None


class _UuidSource:
    """Random (version 4) UUIDs, made 256 at a time from one getrandom() call."""

    __slots__ = ("ready",)

    def __init__(self) -> None:
        self.ready: list[bytes] = []

    def next(self) -> bytes:
        ready = self.ready
        if not ready:
            ready += _uuid_batch(256)
        return ready.pop()


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant bits


def _uuid_batch(n: int) -> list[bytes]:
    h = os.urandom(16 * n).hex()
    variant = _VARIANT
    return [
        f"{h[p : p + 8]}-{h[p + 8 : p + 12]}-4{h[p + 13 : p + 16]}-"
        f"{variant[h[p + 16]]}{h[p + 17 : p + 20]}-{h[p + 20 : p + 32]}".encode()
        for p in range(0, 32 * n, 32)
    ]


_uuids = _UuidSource()
new_request_id = _uuids.next


def _reseed_after_fork() -> None:
    _uuids.ready.clear()  # a forked worker must not repeat its parent's ids


os.register_at_fork(after_in_child=_reseed_after_fork)


def has_token(value: bytes, token: bytes) -> bool:
    """Whether a comma-separated header value (e.g. Connection) contains `token` (lower-case)."""
    value = value.lower()
    if b"," not in value:  # the usual single token
        return value.strip() == token
    return any(part.strip() == token for part in value.split(b","))
