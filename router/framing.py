"""How a request body is delimited (RFC 9112 §6), decided once, by the router, from the head.

The router never lets a dyno guess: it reads the body the way decided here and forwards it with
framing of its own (`Content-Length: n` for a sized body, `Transfer-Encoding: chunked` for a
chunked one, nothing for no body), so a dyno parses exactly the request the router logged.

    Transfer-Encoding present, HTTP/1.0                  → refused (faulty framing, §6.1)
    Transfer-Encoding other than one `chunked`           → refused (vegur reads only `chunked`)
    Transfer-Encoding: chunked and Content-Length         → chunked; Content-Length dropped and the
                                                            connection closed after the response (§6.3)
    Content-Length (digits; llhttp refuses duplicates)    → sized
    neither                                               → no body

A refused head is answered 400 (H26, cause "bad header") and its connection closed: its body
length is unknown, so nothing after the head can be read as anything.
"""

from __future__ import annotations

NONE = 0  # no body
LENGTH = 1  # Content-Length bytes
CHUNKED = 2  # chunked, de-chunked on the way in and re-chunked for the dyno


def only_chunked(values: list[bytes]) -> bool:
    """Whether the Transfer-Encoding field lines (all of them) say exactly `chunked`, once.

    One line, the coding name in any case, spaces around it; nothing else (`gzip`, `xchunked`,
    `chunked, chunked`, `identity`, a second line, a tab after it). Deliberately no more
    lenient than llhttp, which reads the body: a value it would not de-chunk (`chunked\t`,
    `chunked;q=1`) must never be framed as chunked here (tests/unit/test_router_framing.py
    holds the two to agreement).
    """
    return len(values) == 1 and values[0].lstrip(b" \t").rstrip(b" ").lower() == b"chunked"


def framing_header_alias(lname: bytes) -> bool:
    """A header spelled like a framing field with `_` for `-` (`transfer_encoding`).

    The router does not treat it as framing, but some servers (WSGI and CGI environments)
    fold `_` and `-` together; forwarding it would let such a dyno frame the body differently
    from the router.
    """
    name = lname.replace(b"_", b"-")
    return name == b"transfer-encoding" or name == b"content-length"
