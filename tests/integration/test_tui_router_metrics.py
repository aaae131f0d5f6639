"""GET /router/metrics: the router's live figures, which the TUI seeds its totals from."""

from __future__ import annotations

import httpx

from tests.support.daemon import DaemonThread


def test_router_metrics_count_real_requests_by_code(daemon: DaemonThread) -> None:
    assert daemon.d.router is not None
    c = daemon.client()
    assert c.post("/apps", json={"name": "blank"}).status_code == 201
    # nothing deployed: the router answers H81 itself, for real
    page = httpx.get(daemon.router_url + "/", headers={"Host": "blank.localhost"}, timeout=10)
    assert page.status_code == 503

    everything = c.get("/router/metrics")
    assert everything.status_code == 200
    figures = everything.json()["apps"]["blank"]
    assert figures["requests"] == 1 and figures["codes"] == {"H81": 1}
    assert set(figures["latency_ms"]) == {"p50", "p95", "p99"}

    one = c.get("/router/metrics", params={"app": "blank"}).json()
    assert list(one["apps"]) == ["blank"]
    missing = c.get("/router/metrics", params={"app": "nope"})
    assert missing.status_code == 404 and missing.json()["id"] == "not_found"
    assert httpx.get(daemon.api_url + "/router/metrics").status_code == 401  # the token is required
