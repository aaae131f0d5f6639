"""One view over several routers: the router processes' figures merged into the shapes the
API has always answered (Router.metrics's `router` part, TlsListener.metrics, fault listings).

Counters add up, in-flight counts add up per app, quarantined dynos are united. A process that
died leaves its counters in `retired`, so totals never go backwards when one is replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from router.faults import FaultRegistry
from router.fleet.process import RouterProcess

SUMMED = (
    "connections_open",
    "connections_total",
    "connections_refused",
    "unrouted",
    "internal_errors",
    "log_failures",
    "pooled_connections",
)
GAUGES = ("connections_open", "pooled_connections")  # what a dead process no longer holds
CHANNEL = ("records_sent", "records_dropped", "lines_dropped")
TLS_SUMMED = (
    "connections_total",
    "h2_connections_total",
    "h2_connections_open",
    "h2_streams_total",
    "h2_streams_malformed",
    "h2_streams_refused",
    "unknown_sni_names",
)


def retire(retired: dict[str, int], figures: dict[str, Any] | None) -> None:
    """Keep a dead process's last counters in `retired`."""
    if not figures:
        return
    router = figures["router"]
    for key in SUMMED:
        if key not in GAUGES:
            retired[key] = retired.get(key, 0) + int(router.get(key, 0))
    for key, value in figures["channel"].items():
        retired[key] = retired.get(key, 0) + int(value)


def router_figures(
    local: dict[str, Any], retired: dict[str, int], processes: Iterable[RouterProcess]
) -> dict[str, Any]:
    """`local` (the in-daemon Router's figures) plus every process's, plus the retired ones."""
    merged = dict(local)
    inflight: dict[str, int] = dict(merged["inflight"])
    quarantined = set(merged["quarantined"])
    channel = {key: retired.get(key, 0) for key in CHANNEL}
    for key in SUMMED:
        merged[key] += retired.get(key, 0)
    listed = []
    for process in sorted(processes, key=lambda p: p.index):
        figures = process.figures or {}
        router = figures.get("router", {})
        own_channel = figures.get("channel", {})
        for key in SUMMED:
            merged[key] += int(router.get(key, 0))
        for name, count in router.get("inflight", {}).items():
            inflight[name] = inflight.get(name, 0) + int(count)
        quarantined.update(router.get("quarantined", []))
        for key, value in own_channel.items():
            channel[key] = channel.get(key, 0) + int(value)
        listed.append(
            {
                "index": process.index,
                "pid": process.pid,
                "ready": process.ready,
                "connections_total": int(router.get("connections_total", 0)),
                "records_dropped": int(own_channel.get("records_dropped", 0)),
            }
        )
    merged.update(
        inflight=inflight,
        quarantined=sorted(quarantined),
        processes=listed,
        records_dropped=channel["records_dropped"],
        lines_dropped=channel["lines_dropped"],
        records_received=channel["records_sent"],
    )
    return merged


def tls_figures(base: dict[str, Any], parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """TlsListener.metrics's shape: `base` (port, certificates) with every listener's counts."""
    merged = dict(base)
    for key in TLS_SUMMED:
        merged[key] = 0
    for part in parts:
        for key in TLS_SUMMED:
            merged[key] += int(part.get(key, 0))
    return merged


def fault_listing(registry: FaultRegistry, app: str, processes: Iterable[RouterProcess]) -> dict[str, Any]:
    """The API's fault listing, each fault's connections counted by every router."""
    counts: dict[tuple[str, str, str], int] = {}
    stats = dict(registry.stats())
    for process in processes:
        faults = (process.figures or {}).get("faults")
        if not faults:
            continue
        for entry_app, target, name, connections in faults["entries"]:
            fault_key = (entry_app, target, name)
            counts[fault_key] = counts.get(fault_key, 0) + int(connections)
        for key in ("connections", "active", "bypassed"):
            stats[key] += int(faults["stats"].get(key, 0))
    entries = []
    for entry in registry.entries(app):
        data = entry.to_json()
        data["connections"] += counts.get((entry.app, entry.target, entry.fault.name), 0)
        entries.append(data)
    return {"faults": entries, "stats": stats}
