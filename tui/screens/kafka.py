"""Kafka: topics per tenant with rates, data size against the plan, consumer-group lag.

Thin on purpose; placeholder until the Kafka API lands (see fetch())."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.screens.base import PaasScreen


class KafkaScreen(PaasScreen):
    VIEW_NAME = "kafka"
    AUTO_FOCUS = "#kafka-topics"

    def body(self) -> Iterable[Widget]:
        yield Static(id="kafka-info")
        topics: DataTable[Any] = DataTable(id="kafka-topics", cursor_type="row")
        topics.border_title = "Topics"
        yield topics
        groups: DataTable[Any] = DataTable(id="kafka-groups", cursor_type="row")
        groups.border_title = "Consumer groups"
        yield groups

    def full_refresh(self) -> None:
        self.fetch()

    @work(group="kafka", exclusive=True)
    async def fetch(self) -> None:
        info = self.query_one("#kafka-info", Static)
        try:
            data = await self.paas.backend.request("GET", "/kafka/tenants")
        except ApiError as exc:
            info.update(Text(f"Kafka: {exc.message}", style="yellow"))
            return
        info.update(Text(str(data)[:200]))
