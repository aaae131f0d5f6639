"""The scenario catalog: `paas lab` lists these, `paas lab:run NAME` runs one."""

from __future__ import annotations

from paas.lab.engine import Scenario
from paas.lab.scenarios.autoscaling import Autoscaling
from paas.lab.scenarios.h10_crash_loop import H10CrashLoop
from paas.lab.scenarios.h12_timeout import H12Timeout
from paas.lab.scenarios.h13_shutdown import H13Shutdown
from paas.lab.scenarios.h20_boot import H20Boot
from paas.lab.scenarios.kafka_noisy_neighbour import KafkaNoisyNeighbour
from paas.lab.scenarios.keepalive_race import KeepaliveRace
from paas.lab.scenarios.keepalive_tail import KeepaliveTail
from paas.lab.scenarios.preboot import Preboot
from paas.lab.scenarios.r14_memory import R14Memory

CATALOG: dict[str, type[Scenario]] = {
    s.name: s
    for s in (
        H13Shutdown,
        H12Timeout,
        H10CrashLoop,
        R14Memory,
        H20Boot,
        KeepaliveRace,
        KeepaliveTail,
        Preboot,
        KafkaNoisyNeighbour,
        Autoscaling,
    )
}


def get(name: str) -> type[Scenario]:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"no lab scenario {name!r}; choose one of: {', '.join(CATALOG)}") from None
