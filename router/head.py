"""A request's head as the router read it: what the stages judge and what the dyno is sent.

The client connection fills a `RequestHead` from httptools' callbacks (`add_url`, `add_header`)
and seals it with `complete()`; from then on it is read-only, and it is the one source of the
log line's method, path and host and of the head forwarded to the dyno, so the two cannot
disagree. While it is read, problems are noted rather than raised: `problem` holds the H26
verdict the `validate` stage gives (limits, framing, Expect, CONNECT, a bad request-target), and
`unframed` says the body length is unknown, so the connection must not be read any further.

The request-target (RFC 9112 §3.2): origin-form (`/path?q`) is kept; absolute-form
(`http://app.localhost/path`) is routed by its authority, which wins over `Host` (§3.2.2), and
forwarded as origin-form with that authority as `Host`; `*` only with OPTIONS; anything else
is a bad request line.
"""

from __future__ import annotations

from router import codes, framing
from router.codes import CATALOG, H26_EXPECT, HCode
from router.headers import (
    H_CONTENT_LENGTH,
    H_EXPECT,
    H_FORWARDED_FOR,
    H_HOST,
    H_REQUEST_ID,
    H_TRANSFER_ENCODING,
    H_UPGRADE,
    H_VIA,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    REQUEST_SPECIAL,
)

_H26 = CATALOG["H26"]
BAD_HEADER: tuple[HCode, str] = (_H26, codes.CAUSE_BAD_HEADER)
BAD_REQUEST_LINE: tuple[HCode, str] = (_H26, codes.CAUSE_BAD_REQUEST_LINE)
EXPECT_FAILED: tuple[HCode, str] = (H26_EXPECT, codes.CAUSE_EXPECT)


class RequestHead:
    __slots__ = (
        "content_length",
        "expect",
        "expect_continue",
        "framing",
        "host",
        "http11",
        "is_upgrade",
        "keepalive",
        "length",
        "lines",
        "method",
        "nheaders",
        "over_limit",
        "peer_ip",
        "problem",
        "received",
        "request_id",
        "start_ms",
        "target",
        "te",
        "unframed",
        "upgrade",
        "via",
        "xff",
    )

    def __init__(self, peer_ip: bytes, over_limit: bool) -> None:
        self.peer_ip = peer_ip
        self.over_limit = over_limit  # the connection is over the router's limit (H22)
        self.method = b""
        self.target = b""  # origin-form once complete: what the dyno gets and the line says
        self.host: bytes | None = None  # what the request is routed by (and the dyno's Host)
        self.lines: list[bytes] = []  # forwarded header lines, as name, ": ", value, CRLF pieces
        self.nheaders = 0
        self.content_length: bytes | None = None
        self.te: list[bytes] | None = None  # every Transfer-Encoding value, in order
        self.expect: bytes | None = None
        self.upgrade: bytes | None = None
        self.request_id: bytes | None = None  # the client's, unchecked (the exchange decides)
        self.xff: bytes | None = None
        self.via: bytes | None = None
        self.problem: tuple[HCode, str] | None = None
        self.unframed = False
        self.http11 = True
        self.keepalive = True
        self.is_upgrade = False
        self.expect_continue = False
        self.framing = framing.NONE
        self.length = 0
        self.received = 0.0  # loop time the head was complete
        self.start_ms = 0  # epoch ms, for X-Request-Start

    # ------------------------------------------------------------------ while reading
    def add_url(self, url: bytes) -> None:
        if len(self.target) + len(url) > MAX_REQUEST_LINE - 16:
            self._note(BAD_REQUEST_LINE)
            return
        self.target += url

    def add_header(self, name: bytes, value: bytes) -> None:
        self.nheaders += 1
        lname = name.lower()
        kind = REQUEST_SPECIAL.get(lname, -1)
        if kind == H_HOST:
            if self.host is not None:
                self._note(BAD_HEADER)
            self.host = value
            return
        if (len(value) > MAX_HEADER_NAME or self.nheaders > MAX_HEADERS or len(name) > MAX_HEADER_NAME) and (
            len(name) > MAX_HEADER_NAME or len(value) > MAX_HEADER_VALUE or self.nheaders > MAX_HEADERS
        ):
            self._note(BAD_HEADER)
            return
        if kind < 0:
            if b"_" in lname and framing.framing_header_alias(lname):
                self._note(BAD_HEADER)
                self.unframed = True
            self.lines += (name, b": ", value, b"\r\n")
        else:
            self._special(kind, value)

    def _special(self, kind: int, value: bytes) -> None:
        if kind == H_CONTENT_LENGTH:
            self.content_length = value.strip()
        elif kind == H_TRANSFER_ENCODING:
            te = self.te
            if te is None:
                self.te = [value]
            else:
                te.append(value)
        elif kind == H_EXPECT:
            self.expect = value.strip().lower() or None
        elif kind == H_UPGRADE:
            self.upgrade = value
        elif kind == H_REQUEST_ID:
            self.request_id = value.strip()
        elif kind == H_FORWARDED_FOR:
            self.xff = value if self.xff is None else self.xff + b", " + value
        elif kind == H_VIA:
            self.via = value if self.via is None else self.via + b", " + value
        # H_CONNECTION: keep-alive and upgrade are the parser's call; H_DROP: hop-by-hop or
        # untrusted, replaced by the router's own

    def _note(self, problem: tuple[HCode, str]) -> None:
        if self.problem is None:  # the first problem found is the one reported
            self.problem = problem

    # ------------------------------------------------------------------ sealing
    def complete(
        self, method: bytes, http11: bool, keepalive: bool, upgrade: bool, now: float, start_ms: int
    ) -> None:
        """The head is whole: decide the target, the framing and what is wrong with it."""
        self.method = method
        self.http11 = http11
        self.keepalive = keepalive
        self.is_upgrade = upgrade
        self.received = now
        self.start_ms = start_ms
        self._target()
        self._framing()
        if self.unframed:
            self.keepalive = False
        if method == b"CONNECT":
            self._note(BAD_REQUEST_LINE)
        expect = self.expect
        if expect is not None:
            if expect != b"100-continue":
                self._note(EXPECT_FAILED)
            elif http11:
                self.expect_continue = True

    def fail(self, method: bytes, problem: tuple[HCode, str] | None, now: float, start_ms: int) -> None:
        """Seal a head that was never completed: the parser gave up on it, it grew too big
        (`problem`: H26), or the client went quiet in the middle of it (no problem: H28)."""
        if problem is not None:
            self._note(problem)
        self.method = method or b"GET"
        self.keepalive = False
        self.unframed = True
        self.received = now
        self.start_ms = start_ms
        if self.target[:1] != b"/":
            origin = self._origin_form()
            if origin is not None:
                self.target = origin

    def _target(self) -> None:
        target = self.target
        if target[:1] == b"/":
            return
        if target == b"*" and self.method == b"OPTIONS":
            return
        origin = self._origin_form()
        if origin is None:
            self._note(BAD_REQUEST_LINE)
            if not target:
                self.target = b"/"
            return
        self.target = origin

    def _origin_form(self) -> bytes | None:
        """Absolute-form → origin-form; its authority becomes the Host (RFC 9112 §3.2.2)."""
        target = self.target
        scheme, sep, rest = target.partition(b"://")
        if not sep or scheme.lower() not in (b"http", b"https"):
            return None
        end = len(rest)
        for stop in (b"/", b"?"):
            i = rest.find(stop)
            if 0 <= i < end:
                end = i
        authority = rest[:end]
        if not authority or b"@" in authority:
            return None  # no host, or userinfo (deprecated, RFC 9110 §4.2.4)
        self.host = authority
        path = rest[end:]
        return path if path[:1] == b"/" else b"/" + path

    def _framing(self) -> None:
        te = self.te
        cl = self.content_length
        if te is not None:
            if not self.http11 or not framing.only_chunked(te):
                self._note(BAD_HEADER)
                self.unframed = True
                self.keepalive = False
                return
            self.framing = framing.CHUNKED
            if cl is not None:
                self.keepalive = False  # TE wins; answer, then close (RFC 9112 §6.3)
            return
        if cl is not None:
            if not cl.isdigit() or len(cl) > 18:
                self._note(BAD_HEADER)
                self.unframed = True
                self.keepalive = False
                return
            self.length = int(cl)
            self.framing = framing.LENGTH

    # ------------------------------------------------------------------ reading back
    def has_body(self) -> bool:
        return self.framing == framing.CHUNKED or (self.framing == framing.LENGTH and self.length > 0)
