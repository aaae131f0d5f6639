"""The Metrics view's building blocks: percentiles from the log histogram, the bounded ring of
steps, the series limit of the Prometheus registry, the OpenMetrics text."""

from __future__ import annotations

import random

import pytest

from common.config import Settings, SettingsError
from paas.metrics.latency import Histogram
from paas.metrics.openmetrics import Exposition
from paas.metrics.registry import Registry
from paas.metrics.timeline import MAX_MARKS, AppTimeline, Mark

T0 = 1_700_000_040  # a whole minute (and a whole 10 s)


def test_percentiles_stay_within_the_bucket_width_of_the_exact_ones() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(4, 1) for _ in range(5000)]
    hist = Histogram()
    for ms in samples:
        hist.add(ms)
    ordered = sorted(samples)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        found = hist.percentile(q)
        assert found is not None and exact * 0.95 <= found <= exact * 1.09, (q, exact, found)
    assert hist.summary()["max"] == round(max(samples))
    assert Histogram().summary() == {"p50": None, "p95": None, "p99": None, "max": None}


def test_each_step_counts_its_own_requests_and_the_ring_forgets_past_the_hour() -> None:
    t = AppTimeline("app", resolution=60)
    t.request(T0 + 5, 200, None, 12)
    t.request(T0 + 59, 503, "H12", 30_000)
    t.request(T0 + 60, 404, None, 3)
    s = t.series(now=T0 + 61, window=120)
    assert s.times == [T0, T0 + 60]
    assert s.throughput["2xx"] == [1, 0] and s.throughput["5xx"] == [1, 0] and s.throughput["4xx"] == [0, 1]
    assert s.errors == {"H12": [1, 0]}
    assert s.latency["max"] == [30_000, 3]

    # an hour later the same slots hold the new steps, and the old figures are gone
    later = T0 + 3600
    t.request(later + 1, 200, None, 5)
    s = t.series(now=later + 1, window=3600)
    assert len(s.times) == 60 and s.times[-1] == later
    assert sum(s.throughput["2xx"]) == 1 and sum(s.throughput["5xx"]) == 0 and s.errors == {}
    t.request(T0 + 2, 200, None, 5)  # arrives after its hour was reused: dropped, not misfiled
    assert sum(t.series(now=later + 1).throughput["2xx"]) == 1


def test_memory_is_a_mean_and_a_maximum_per_step_against_the_quota() -> None:
    t = AppTimeline("app", resolution=10)
    for i, mb in enumerate((100.0, 300.0, 200.0)):
        t.sample(T0 + i, "web.1", mb, 0.5)
    t.quota_mb["web.1"] = 512
    s = t.series(now=T0 + 5, window=60)
    assert s.memory["web.1"][-1] == 200.0 and s.memory_max["web.1"][-1] == 300.0
    assert s.memory_quota == {"web.1": 512} and s.load["web.1"][-1] == 0.5
    assert s.memory["web.1"][:-1] == [None] * 5  # no sample: a gap, not a zero


def test_marks_are_bounded_and_a_config_change_replaces_its_release_mark() -> None:
    t = AppTimeline("app", resolution=60)
    t.mark(Mark(T0, "deploy", "v5 Set GREETING config vars", 5))
    t.mark(Mark(T0, "config", "v5 Config vars changed: GREETING", 5))
    assert [m.kind for m in t.marks] == ["config"]
    for i in range(MAX_MARKS + 10):
        t.mark(Mark(T0 + i, "restart", f"web.1 restarted {i}"))
    assert len(t.marks) == MAX_MARKS and t.marks[-1].text.endswith(str(MAX_MARKS + 9))


def test_the_registry_stops_making_series_at_its_limit_and_counts_what_it_dropped() -> None:
    reg = Registry(max_series=4)
    reg.request("a", 200, None, 10)
    reg.request("a", 200, None, 20)
    reg.request("a", 503, "H12", 30_000)  # 4 series now (2 counters, 2 histograms)
    reg.request("b", 200, None, 10)
    assert reg.overflow == 1 and ("b", "200", "") not in reg.requests
    assert reg.requests[("a", "200", "")] == 2
    assert reg.timings[("a", "503")].cumulative()[-1] == 1
    reg.forget("a")
    assert reg.requests == {} and reg.timings == {}


def test_openmetrics_text_escapes_labels_and_ends_with_eof() -> None:
    out = Exposition()
    fam = out.family("paas_things", "counter", "Things")
    fam.counter({"app": 'we"ird\\app\n'}, 3)
    out.family("paas_size", "gauge", "Size").sample({}, 1.5)
    text = out.text()
    assert text.endswith("# EOF\n")
    assert 'paas_things_total{app="we\\"ird\\\\app\\n"} 3\n' in text
    assert "# TYPE paas_things counter\n" in text and "paas_size 1.5\n" in text


def test_the_resolution_setting_is_checked() -> None:
    assert Settings.from_env({"PAAS_METRICS_RESOLUTION": "10"}).metrics_resolution == 10
    for raw, message in (("0", "from 1 to 300"), ("301", "from 1 to 300"), ("fast", "a whole number")):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({"PAAS_METRICS_RESOLUTION": raw})
