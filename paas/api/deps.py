"""The typed set of services every route receives, as a FastAPI dependency.

The daemon (the composition root) builds each part once at start and hands the API one frozen
`Services`; routes declare what they use (`svc: Svc`) and never reach the daemon itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from common.ca import LocalCA
from common.config import Settings
from common.events import EventBus
from common.loghub import LogHub
from dynos.manager import DynoManager
from dynos.stackimages import StackImages
from paas.addons.kvs.provider import KeyValueStoreProvider
from paas.addons.pgbackups.schedules import Schedules
from paas.addons.pgbackups.service import BackupService
from paas.addons.postgres import PostgresProvider
from paas.addons.service import AddonService
from paas.api.attach import AttachTickets
from paas.api.rendezvous import Rendezvous
from paas.autoscale.service import AutoscaleService
from paas.builds.appsetup import AppSetups
from paas.builds.pipelines import PipelineService
from paas.builds.reviewapps import ReviewApps
from paas.builds.service import BuildService
from paas.certs import CertService
from paas.control import ControlPlane
from paas.control.releases import ReleasePath
from paas.dataclips.service import DataclipsService
from paas.kafka.service import KafkaService
from paas.logs.drains import DrainService
from paas.metrics.scrape import Scraper
from paas.metrics.service import MetricsService
from paas.scheduler.service import SchedulerService
from paas.teardown import AppTeardown
from paas.webhooks.service import WebhookService
from router.faults import FaultRegistry
from router.fleet import RouterFleet


@dataclass(frozen=True)
class Services:
    settings: Settings
    token: str  # the API's bearer token (also the git password and the dataclips login)
    api_url: str
    bus: EventBus
    logs: LogHub
    ca: LocalCA
    control: ControlPlane
    releases: ReleasePath
    teardown: AppTeardown
    addons: AddonService
    postgres: PostgresProvider
    pgbackups: BackupService
    pgbackup_schedules: Schedules
    redis: KeyValueStoreProvider
    builds: BuildService
    setups: AppSetups
    pipelines: PipelineService
    reviewapps: ReviewApps
    dynos: DynoManager
    stack: StackImages  # the stack image container dynos run on (`paas stack`)
    attach: AttachTickets
    rendezvous: Rendezvous  # `heroku run`'s TLS attach listener (its URLs name its port)
    api_tls_url: str  # the API again over TLS with the local CA (git over https, the data API)
    router: RouterFleet
    certs: CertService  # ACM and SNI endpoints (the router's TLS port)
    faults: FaultRegistry
    kafka: KafkaService
    dataclips: DataclipsService
    metrics: MetricsService  # each app's last hour (the Metrics view)
    scrape: Scraper  # the platform's figures for Prometheus (`GET /metrics`)
    drains: DrainService
    webhooks: WebhookService
    scheduler: SchedulerService
    autoscale: AutoscaleService
    status: Callable[[], dict[str, Any]]  # the daemon's own figures (`GET /status`)
    report_error: Callable[[BaseException], None]  # an internal error, counted and logged


def services(conn: HTTPConnection) -> Services:
    """The one place the API's services are read from: set once by `create_api`."""
    found = conn.app.state.services
    assert isinstance(found, Services)
    return found


Svc = Annotated[Services, Depends(services)]
