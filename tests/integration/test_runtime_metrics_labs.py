"""`paas labs:enable log-runtime-metrics` on a deployed app: its web dyno's samples appear in
the app's log as heroku[web.1] lines naming the app's id, reach its HTTPS drain, and stop with
`labs:disable`, without a restart."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_dynos_cli import WEB, all_up, deploy, wait_dynos
from tests.support.daemon import DaemonThread
from tests.support.daemon import test_settings as daemon_settings
from tests.support.receivers import HttpsReceiver, wait_until


@pytest.fixture
def sampled(paas_home: Path) -> Iterator[DaemonThread]:
    d = DaemonThread(daemon_settings(paas_home, runtime_metrics_interval=0.5)).start()
    try:
        yield d
    finally:
        d.stop()


def samples(d: DaemonThread) -> list[str]:
    async def lines() -> list[str]:  # read on the daemon's loop, which appends to them
        return [line.text for line in d.d.logs.recent("metered", 1500, source="heroku", dyno="web.1")]

    return [text for text in d.call(lines) if "sample#" in text]


def test_labs_enable_makes_the_dyno_report_and_disable_stops_it(
    sampled: DaemonThread, tmp_path: Path
) -> None:
    deploy(sampled, "metered", tmp_path, {"web": WEB})
    wait_dynos(sampled, "metered", all_up(1))
    app_id = sampled.client().get("/apps/metered").json()["id"]
    receiver = HttpsReceiver(sampled.d.ca).start()
    try:
        sampled.client().post("/apps/metered/log-drains", json={"url": receiver.url}).raise_for_status()
        assert samples(sampled) == []
        out = sampled.cli("labs:enable", "log-runtime-metrics", "-a", "metered")
        assert out.returncode == 0 and "Enabling log-runtime-metrics for ⬢ metered... done" in out.stderr
        assert wait_until(lambda: len(samples(sampled)) >= 2)
        prefix = rf"source=web\.1 dyno=heroku\.{app_id}\.[0-9a-f-]{{36}} "
        load, memory = samples(sampled)[:2]
        assert re.match(prefix + r"sample#load_avg_1m=\d+\.\d\d ", load), load
        assert re.match(prefix + r"sample#memory_total=\d+\.\d\dMB .* sample#memory_quota=512\.00MB$", memory)
        assert wait_until(lambda: any(b"sample#memory_total=" in x.body for x in receiver.received))
        labs = sampled.cli("labs", "-a", "metered").stdout
        assert re.search(r"\[\+\] log-runtime-metrics", labs), labs

        out = sampled.cli("labs:disable", "log-runtime-metrics", "-a", "metered")
        assert out.returncode == 0

        def quiet() -> bool:  # no new sample for three intervals (once the change has applied)
            before = len(samples(sampled))
            time.sleep(1.5)
            return len(samples(sampled)) == before

        assert wait_until(quiet, 20)
        assert [d["state"] for d in sampled.client().get("/apps/metered/dynos").json()] == ["up"]
    finally:
        receiver.stop()
