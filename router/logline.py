"""The `heroku[router]` line, in Heroku's field order, built in one place.

    [sock=…] at=info|warning|error [code=Hxx desc="…" [cause="…"]] method= path="…" host=
    request_id= fwd="…" dyno= connect=Nms service=Nms status= bytes= protocol=

A field the request never reached prints empty (`dyno= connect= service= bytes=`), as Heroku's
lines do when no dyno was reached. Legacy lines say `protocol=http`; Router 2.0 lines (app
feature http-routing-2-dot-0) say `protocol=http1.1 tls=false`.
"""

from __future__ import annotations


def _q(value: str) -> str:
    # a client-controlled value must not break the key=value structure of the line
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return value


def _ms(value: float | None) -> str:
    return "" if value is None else f"{int(value)}ms"


def format_line(
    *,
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
    connect_ms: float | None,
    service_ms: float | None,
    status: int | None,
    nbytes: int | None,
    router2: bool = False,
) -> str:
    head = f"sock={sock} at={at}" if sock else f"at={at}"
    if code:
        head = f'{head} code={code} desc="{desc}"'
        if cause:
            head = f'{head} cause="{cause}"'
    protocol = "http1.1 tls=false" if router2 else "http"
    return (
        f'{head} method={method} path="{_q(path)}" host={_q(host).replace(" ", "")} '
        f'request_id={request_id} fwd="{_q(fwd)}" dyno={dyno or ""} '
        f"connect={_ms(connect_ms)} service={_ms(service_ms)} "
        f"status={'' if status is None else status} bytes={'' if nbytes is None else nbytes} "
        f"protocol={protocol}"
    )
