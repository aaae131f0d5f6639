"""The real Prometheus server (Debian's) scrapes `/metrics` with the daemon's token and answers
rates back: router requests per app and code (from real H81s and real 200/404/500s), the
latency histogram, dyno states and memory; a job without the token is refused (target down)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.daemon import DaemonThread
from tests.support.prometheus import Prometheus, prometheus_binary
from tests.support.require import require
from tests.support.wait import until
from tests.support.webapp import deploy_web_app

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


@pytest.fixture
def prometheus(daemon: DaemonThread, tmp_path: Path) -> Iterator[Prometheus]:
    require(prometheus_binary() is not None, "prometheus is not installed (apt-get install prometheus)")
    work = tmp_path / "prometheus"
    work.mkdir()
    server = Prometheus(work, daemon.d.api_port, daemon.d.token)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def value_of(result: list[dict[str, Any]]) -> float | None:
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_and_queries_rates_back(
    daemon: DaemonThread, prometheus: Prometheus, tmp_path: Path
) -> None:
    deploy_web_app(daemon, tmp_path / "src", "promapp")
    router = httpx.Client(base_url=daemon.router_url, headers={"Host": "promapp.localhost"}, timeout=10)
    with daemon.client() as c:
        c.post("/apps", json={"name": "blankapp"})
    until(lambda: router.get("/").status_code == 200, what="the web dyno to answer")

    sent = {"200": 0, "404": 0}
    deadline = time.monotonic() + 30

    def traffic() -> None:
        for path, code in (("/", "200"), ("/missing", "404")):
            assert router.get(path).status_code == int(code)
            sent[code] += 1
        blank = httpx.get(daemon.router_url + "/", headers={"Host": "blankapp.localhost"}, timeout=10)
        assert blank.status_code == 503  # nothing deployed: the router's real H81

    rate_query = 'sum(rate(paas_router_requests_total{app="promapp",code="200"}[5s]))'
    while time.monotonic() < deadline:  # steady traffic until Prometheus has seen a rate of it
        traffic()
        rate = value_of(prometheus.query(rate_query))
        if rate is not None and rate > 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no rate came back: {prometheus.targets()} {prometheus.logs()}")

    targets = prometheus.targets()
    assert targets["paas"]["health"] == "up" and targets["paas"]["lastError"] == ""
    # the same endpoint without the token: Prometheus reports the 401
    until(lambda: prometheus.targets()["paas-no-token"]["health"] == "down", what="the no-token job down")
    assert "401" in prometheus.targets()["paas-no-token"]["lastError"]

    # counts, once a scrape after the last request has landed: exactly what was sent
    total = 'paas_router_requests_total{app="promapp",code="%s",hcode=""}'
    h81 = 'paas_router_requests_total{app="blankapp",code="503",hcode="H81"}'

    def counted() -> tuple[float | None, ...]:
        return tuple(value_of(prometheus.query(q)) for q in (total % "200", total % "404", h81))

    # the first 200 came from the wait for the dyno; one H81 per round of traffic
    expected = (1 + sent["200"], sent["404"], sent["404"])
    until(lambda: counted() == expected, what=f"the requests counted: {expected}")

    buckets = prometheus.query(
        'paas_router_request_duration_seconds_bucket{app="promapp",code="200",le="+Inf"}'
    )
    assert value_of(buckets) == 1 + sent["200"]
    p99 = prometheus.query(
        'histogram_quantile(0.99, sum by (le) (rate(paas_router_request_duration_seconds_bucket{app="promapp"}[30s])))'
    )
    assert p99 and 0 < float(p99[0]["value"][1]) <= 60

    up = prometheus.query('paas_dyno_state{app="promapp",dyno="web.1",paas_dyno_state="up"}')
    assert value_of(up) == 1
    memory = value_of(prometheus.query('paas_dyno_memory_bytes{app="promapp",dyno="web.1"}'))
    quota = value_of(prometheus.query('paas_dyno_memory_quota_bytes{app="promapp",dyno="web.1"}'))
    assert memory is not None and 1_000_000 < memory < 512 * 1024 * 1024
    assert quota == 512 * 1024 * 1024
