"""What `GET /metrics` answers: the platform's figures in the OpenMetrics text format.

Metric names (stable: dashboards and alerts use them):
  paas_router_requests_total{app,code,hcode}          routed requests (code: HTTP status; hcode: H-code or "")
  paas_router_request_duration_seconds{app,code}       histogram of request → response finished
  paas_dyno_state{app,dyno,type,paas_dyno_state}       stateset: starting | up | crashed | stopping | down
  paas_dyno_memory_bytes{app,dyno}                     the dyno's process tree, as the R14 watch reads it
  paas_dyno_memory_quota_bytes{app,dyno}               its size's quota (R14 above, R15 at twice)
  paas_dyno_restarts_total{app,dyno}                   restarts of this dyno slot
  paas_log_lines_total                                 lines the log hub received
  paas_log_tail_dropped_lines_total{app}               lines live tails dropped (Heroku's L11)
  paas_log_drain_dropped_lines_total{app,drain}        lines a drain's buffer dropped (Heroku's L10);
                                                       publish `log.dropped` [sink="drain", drain, count]
  paas_kafka_tenant_bytes_in_total{tenant,app}         bytes produced to the tenant's topics
  paas_kafka_tenant_bytes_out_total{tenant,app}        bytes fetched from them
  paas_kafka_tenant_messages_in_total{tenant,app}      records produced
  paas_kafka_tenant_data_bytes{tenant,app}             data kept on disk, against
  paas_kafka_tenant_data_limit_bytes{tenant,app}       the plan's capacity
  paas_kafka_tenant_throttled_responses_total{tenant,app,quota}   responses that carried a throttle
  paas_kafka_tenant_throttle_seconds_total{tenant,app,quota}      the throttle time they asked for
  paas_metrics_series_overflow_total                   samples not counted: the series limit was reached
  paas_metrics_sample_failures_total                   memory / load samples that failed (retried next time)
  paas_bus_events_published_total                      events on the daemon's bus
"""

from __future__ import annotations

import asyncio
import contextlib
import math

from common.events import EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.sizes import MB
from paas.kafka.plans import PLANS
from paas.kafka.service import KafkaService
from paas.kafka.values import Throttle, TopicInfo
from paas.metrics.openmetrics import Exposition, Family
from paas.metrics.registry import BOUNDS_S, Registry
from paas.metrics.service import MetricsService, quota_mb

DYNO_STATES = ("starting", "up", "crashed", "stopping", "down")
KAFKA_TIMEOUT = 5.0  # an external cluster that does not answer leaves its tenants out of one scrape


class Scraper:
    def __init__(
        self, metrics: MetricsService, dynos: DynoManager, logs: LogHub, bus: EventBus, kafka: KafkaService
    ) -> None:
        self.metrics = metrics
        self.dynos = dynos
        self.logs = logs
        self.bus = bus
        self.kafka = kafka

    async def text(self) -> str:
        out = Exposition()
        _router(out, self.metrics.registry)
        self._dynos(out)
        _logs(out, self.metrics.registry, self.logs.total)
        await self._kafka(out)
        out.family(
            "paas_metrics_series_overflow", "counter", "Samples not counted: the series limit was reached"
        ).counter({}, self.metrics.registry.overflow)
        out.family("paas_metrics_sample_failures", "counter", "Memory and load samples that failed").counter(
            {}, self.metrics.sample_failures
        )
        out.family("paas_bus_events", "counter", "Events published on the daemon's bus").counter(
            {}, self.bus.published
        )
        return out.text()

    def _dynos(self, out: Exposition) -> None:
        state = out.family("paas_dyno_state", "stateset", "Each dyno's state")
        memory = out.family("paas_dyno_memory_bytes", "gauge", "Memory of the dyno's processes (RSS + swap)")
        quota = out.family("paas_dyno_memory_quota_bytes", "gauge", "Memory quota of the dyno's size")
        restarts = out.family("paas_dyno_restarts", "counter", "Restarts of this dyno")
        for info in self.dynos.dynos():
            labels = {"app": info.app, "dyno": info.name}
            state.states({**labels, "type": info.type}, DYNO_STATES, info.state)
            memory.sample(labels, info.memory_bytes)
            quota.sample(labels, quota_mb(info) * MB)
            restarts.counter(labels, info.restarts)

    async def _kafka(self, out: Exposition) -> None:
        fams = {
            "in": out.family(
                "paas_kafka_tenant_bytes_in", "counter", "Bytes produced to the tenant's topics"
            ),
            "out": out.family(
                "paas_kafka_tenant_bytes_out", "counter", "Bytes fetched from the tenant's topics"
            ),
            "msgs": out.family(
                "paas_kafka_tenant_messages_in", "counter", "Records produced to the tenant's topics"
            ),
            "data": out.family("paas_kafka_tenant_data_bytes", "gauge", "Data the tenant's topics keep"),
            "limit": out.family("paas_kafka_tenant_data_limit_bytes", "gauge", "The tenant plan's capacity"),
            "thr": out.family(
                "paas_kafka_tenant_throttled_responses",
                "counter",
                "Responses to the tenant that carried a throttle",
            ),
            "thr_s": out.family(
                "paas_kafka_tenant_throttle_seconds", "counter", "Throttle time asked of the tenant's clients"
            ),
        }
        for tid in self.kafka.tenant_ids():
            with contextlib.suppress(Exception):  # a tenant removed meanwhile, a cluster that is away
                topics = await asyncio.wait_for(self.kafka.list_topics(tid), KAFKA_TIMEOUT)
                tenant = self.kafka.tenant(tid)
                labels = {"tenant": tid, "app": tenant.app}
                _kafka_tenant(
                    fams, labels, topics, self.kafka.throttle(tenant), PLANS[tenant.plan].capacity_bytes
                )


def _router(out: Exposition, reg: Registry) -> None:
    requests = out.family("paas_router_requests", "counter", "Requests the router finished")
    for (app, code, hcode), count in sorted(reg.requests.items()):
        requests.counter({"app": app, "code": code, "hcode": hcode}, count)
    duration = out.family(
        "paas_router_request_duration_seconds", "histogram", "Time from request received to response finished"
    )
    bounds = [*BOUNDS_S, math.inf]
    for (app, code), timing in sorted(reg.timings.items()):
        duration.histogram({"app": app, "code": code}, bounds, timing.cumulative(), timing.sum_s)


def _logs(out: Exposition, reg: Registry, lines: int) -> None:
    out.family("paas_log_lines", "counter", "Lines the log hub received").counter({}, lines)
    tail = out.family("paas_log_tail_dropped_lines", "counter", "Lines live tails dropped (L11)")
    for app, count in sorted(reg.tail_dropped.items()):
        tail.counter({"app": app}, count)
    drain = out.family("paas_log_drain_dropped_lines", "counter", "Lines a drain's buffer dropped (L10)")
    for (app, name), count in sorted(reg.drain_dropped.items()):
        drain.counter({"app": app, "drain": name}, count)


def _kafka_tenant(
    fams: dict[str, Family],
    labels: dict[str, str],
    topics: list[TopicInfo],
    throttle: Throttle | None,
    capacity: int,
) -> None:
    fams["in"].counter(labels, sum(t.rates.bytes_in_total for t in topics))
    fams["out"].counter(labels, sum(t.rates.bytes_out_total for t in topics))
    fams["msgs"].counter(labels, sum(t.rates.messages_in_total for t in topics))
    fams["data"].sample(labels, sum(t.data_size for t in topics))
    fams["limit"].sample(labels, capacity)
    if throttle is None:  # an external cluster: its throttling is not ours to see
        return
    for quota, use in (
        ("produce", throttle.produce),
        ("consume", throttle.consume),
        ("request", throttle.request),
    ):
        fams["thr"].counter({**labels, "quota": quota}, use.stats.throttled)
        fams["thr_s"].counter({**labels, "quota": quota}, use.stats.throttle_ms_total / 1000)
