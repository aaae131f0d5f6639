"""The `heroku[router]` line, in Heroku's field order, built in one place.

    [sock=…] at=info|warning|error [code=Hxx desc="…" [cause="…"]] method= path="…" host=
    request_id= fwd="…" dyno= connect=Nms service=Nms status= bytes= protocol=

A field the request never reached prints empty (`dyno= connect= service= bytes=`), as Heroku's
lines do when no dyno was reached. Legacy lines say `protocol=http` (or `https` on the TLS
port); Router 2.0 lines (app feature http-routing-2-dot-0) say `protocol=http1.1 tls=false`
(or `tls=true tls_version=tls1.3`). HTTP/2 streams say `protocol=http2.0 tls=true tls_version=…`
for every app: on Heroku only Router 2.0 speaks HTTP/2, and its lines look like that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.metrics import RequestRecord


def _q(value: str) -> str:
    # a client-controlled value must not break the key=value structure of the line
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return value


def protocol_field(router2: bool, tls_version: str = "", http2: bool = False) -> str:
    """The value after `protocol=`: how the client reached the router (`tls_version` is empty
    on the plain port, `tls1.2`/`tls1.3` on the TLS port)."""
    if http2:
        return f"http2.0 tls=true tls_version={tls_version}"
    if tls_version:
        return f"http1.1 tls=true tls_version={tls_version}" if router2 else "https"
    return "http1.1 tls=false" if router2 else "http"


def format_record(
    record: RequestRecord,
    desc: str | None,
    cause: str | None,
    sock: str | None,
    fwd: str,
    router2: bool,
    protocol: str = "",
) -> str:
    """The line for a finished request's record (what the router calls, once per request)."""
    return format_line(
        record.at, record.code, desc, cause, sock, record.method, record.path, record.host,
        record.request_id, fwd, record.dyno, record.connect_ms, record.service_ms, record.status,
        record.bytes, router2, protocol,
    )  # fmt: skip


def format_line(
    at: str,
    code: str | None,
    desc: str | None,
    cause: str | None,
    sock: str | None,
    method: str,
    path: str,
    host: str,
    request_id: str,
    fwd: str,
    dyno: str | None,
    connect_ms: int | None,
    service_ms: int | None,
    status: int | None,
    nbytes: int | None,
    router2: bool = False,
    protocol: str = "",
) -> str:
    head = f"sock={sock} at={at}" if sock else f"at={at}"
    if code:
        head = f'{head} code={code} desc="{desc}"'
        if cause:
            head = f'{head} cause="{cause}"'
    if '"' in path or "\\" in path:
        path = _q(path)
    if '"' in host or "\\" in host or " " in host:
        host = _q(host).replace(" ", "")
    if '"' in fwd or "\\" in fwd:
        fwd = _q(fwd)
    return (
        f'{head} method={method} path="{path}" host={host} '
        f'request_id={request_id} fwd="{fwd}" dyno={dyno or ""} '
        f"connect={'' if connect_ms is None else f'{connect_ms}ms'} "
        f"service={'' if service_ms is None else f'{service_ms}ms'} "
        f"status={'' if status is None else status} bytes={'' if nbytes is None else nbytes} "
        f"protocol={protocol or protocol_field(router2)}"
    )
