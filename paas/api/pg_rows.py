"""The rows `pg:info` shows for one database, formatted once, server side.

Heroku's data API answers `GET /client/v11/databases/{id}` with `info: [{name, values}]` and its
CLI prints those rows as they come; paas's own `pg:info` prints the same list, so both agree.
"""

from __future__ import annotations

from typing import Any


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def plan_title(plan: str) -> str:
    name, _, number = plan.partition("-")
    return f"{name.capitalize()} {number}".strip()


def info_rows(addon: dict[str, Any], info: dict[str, Any]) -> list[dict[str, Any]]:
    """`addon` as the add-on service presents it; `info` as the provider measured it."""
    limit = info["storage_limit"] or 1
    size = f"{human_size(info['data_size'])} / {human_size(info['storage_limit'])} ({info['data_size'] / limit:.2%})"
    rows: list[tuple[str, str]] = [
        ("Plan", plan_title(info["plan"])),
        ("Status", info["status"]),
        ("Connections", f"{info['connections']}/{info['connection_limit']}"),
        ("PG Version", info["pg_version"]),
        ("Created", addon["created_at"]),
        ("Data Size", size),
        ("Tables", str(info["tables"])),
        ("Fork/Follow", "Unsupported"),
        ("Rollback", "Unsupported"),
        ("Continuous Protection", "Off"),
    ]
    return [{"name": name, "values": [value]} for name, value in rows]
