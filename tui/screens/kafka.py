"""Kafka: the shared broker's tenants (one per add-on) with their rates and data size against
the plan's capacity, every topic with its traffic, and consumer groups with their lag.

Thin on purpose: one `GET /kafka/tenants` every few seconds while the screen is visible
(broker rates are not pushed as events), nothing while it is not. At any width each table
shows the columns that fit (FitTable): the optional ones carry the width they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.widget import Widget
from textual.widgets import DataTable

from tui.client import ApiError
from tui.screens.base import Line, PaasScreen
from tui.widgets.fit_table import Col, FitTable

REFRESH_SECONDS = 2
COLUMNS = {
    "kafka-tenants": (
        Col("App"),
        Col("Plan"),
        Col("Prefix", 120),
        Col("Msgs/s in", 100),
        Col("In/s"),
        Col("Out/s"),
        Col("Throttled", 100),
        Col("Data size vs plan"),
        Col("Topics", 90),
    ),
    "kafka-topics": (
        Col("App"),
        Col("Topic"),
        Col("Parts"),
        Col("Msgs/s in", 100),
        Col("In/s"),
        Col("Out/s"),
        Col("Messages"),
        Col("Data size"),
        Col("Retention", 110),
        Col("Cleanup", 120),
    ),
    "kafka-groups": (
        Col("App"),
        Col("Group"),
        Col("State"),
        Col("Members", 100),
        Col("Lag"),
        Col("Lag by partition"),
    ),
}


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def usage(used: float, limit: float, width: int = 10) -> Text:
    pct = used / limit if limit else 0.0
    filled = min(width, round(width * pct))
    style = "green" if pct < 0.8 else "yellow" if pct < 1.0 else "bold red"
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {size(used)} / {size(limit)} ({100 * pct:.1f}%)")
    return text


def lag_text(lag: int | None) -> Text:
    if lag is None:
        return Text("-", style="dim")
    return Text(f"{lag:,}", style="green" if lag == 0 else "yellow" if lag < 1000 else "bold red")


def throttle_text(throttle: dict[str, Any] | None, now: float | None = None) -> Text:
    """Produce/consume throttling: red while it is happening (last 10 s), dim once it is past."""
    import time

    if not throttle:
        return Text("-", style="dim")
    now = time.time() if now is None else now
    parts = []
    for key in ("produce", "consume"):
        q = throttle.get(key) or {}
        if q.get("throttled_responses"):
            recent = now - float(q.get("last_throttled_at") or 0) < 10
            style = "bold red" if recent else "yellow"
            parts.append(
                Text(f"{key} {int(q['last_throttle_ms'])} ms ({q['throttled_responses']}x)", style=style)
            )
    if not parts:
        return Text("no", style="green")
    return Text(" ").join(parts)


class KafkaScreen(PaasScreen):
    VIEW_NAME = "kafka"
    AUTO_FOCUS = "#kafka-topics"

    def body(self) -> Iterable[Widget]:
        yield Line(id="kafka-info")
        tenants = FitTable(COLUMNS["kafka-tenants"], id="kafka-tenants", cursor_type="row")
        tenants.border_title = "Tenants (one per Kafka add-on)"
        yield tenants
        topics = FitTable(COLUMNS["kafka-topics"], id="kafka-topics", cursor_type="row")
        topics.border_title = "Topics"
        yield topics
        groups = FitTable(COLUMNS["kafka-groups"], id="kafka-groups", cursor_type="row")
        groups.border_title = "Consumer groups"
        yield groups

    def on_mount(self) -> None:
        self._seconds = 0

    def full_refresh(self) -> None:
        self.fetch()

    def on_second(self) -> None:
        self._seconds += 1
        if self._seconds % REFRESH_SECONDS == 0:
            self.fetch()

    @work(group="kafka", exclusive=True)
    async def fetch(self) -> None:
        info = self.query_one("#kafka-info", Line)
        try:
            tenants = await self.paas.backend.request("GET", "/kafka/tenants")
        except ApiError as exc:
            info.show(Text(f"Kafka not available: {exc.message}", style="yellow"))
            return
        self.show(tenants if isinstance(tenants, list) else [])

    def show(self, tenants: list[dict[str, Any]]) -> None:
        info = self.query_one("#kafka-info", Line)
        current = self.paas.current_app
        if not tenants:
            info.show(
                Text(
                    "No Kafka add-ons yet. Add one with `paas addons:create heroku-kafka:basic-0 -a APP`.",
                    style="dim",
                )
            )
        else:
            topics = sum(len(t.get("topics") or []) for t in tenants)
            info.show(Text(f"{len(tenants)} tenants · {topics} topics on the shared broker", style="dim"))
        tenant_rows, topic_rows, group_rows = [], [], []
        for t in tenants:
            app = str(t.get("app") or t.get("tenant") or "")
            app_cell = Text(app, style="bold" if app == current else "")
            tenant_rows.append(
                (
                    app_cell,
                    str(t.get("plan", "")),
                    str(t.get("prefix", "")),
                    f"{float(t.get('messages_in_per_sec') or 0):.1f}",
                    size(float(t.get("bytes_in_per_sec") or 0)) + "/s",
                    size(float(t.get("bytes_out_per_sec") or 0)) + "/s",
                    throttle_text(t.get("throttle")),
                    usage(float(t.get("data_size") or 0), float(t.get("data_size_limit") or 0)),
                    str(t.get("topic_count", len(t.get("topics") or []))),
                )
            )
            for topic in t.get("topics") or []:
                retention = topic.get("retention_time_ms")
                topic_rows.append(
                    (
                        app_cell,
                        str(topic.get("prefix_free_name") or topic.get("name")),
                        str(topic.get("partition_count", "")),
                        f"{float(topic.get('messages_in_per_sec') or 0):.1f}",
                        size(float(topic.get("bytes_in_per_sec") or 0)) + "/s",
                        size(float(topic.get("bytes_out_per_sec") or 0)) + "/s",
                        f"{int(topic.get('messages') or 0):,}",
                        size(float(topic.get("data_size") or 0)),
                        f"{int(retention) // 3_600_000}h" if retention else "-",
                        str(topic.get("cleanup_policy", "")),
                    )
                )
            for g in t.get("consumer_groups") or []:
                parts = ", ".join(
                    f"{p['topic'].split('.', 1)[-1]}[{p['partition']}]={p['lag']}"
                    for p in (g.get("partitions") or [])[:6]
                    if p.get("lag") is not None
                )
                group_rows.append(
                    (
                        app_cell,
                        str(g.get("name", "")),
                        str(g.get("state", "")),
                        str(g.get("members", 0)),
                        lag_text(g.get("lag")),
                        parts,
                    )
                )
        for selector, rows in (
            ("#kafka-tenants", tenant_rows),
            ("#kafka-topics", topic_rows),
            ("#kafka-groups", group_rows),
        ):
            table = self.query_one(selector, DataTable)
            cursor = table.cursor_row
            table.clear()
            table.add_rows(rows)
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1))
