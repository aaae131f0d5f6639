"""Run a KafkaService outside the daemon: on a background thread (tests) or as its own
process (`python -m tests.support.kafka_broker --home DIR`, used by `bench/kafka.py` so the broker has
a core to itself). Both bind free loopback ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from common.ca import local_ca
from common.config import Settings
from common.events import EventBus
from paas.kafka.auth import ADMIN_USER
from paas.kafka.embedded import EmbeddedBroker
from paas.kafka.service import KafkaService

T = TypeVar("T")


def broker_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"home": home, "kafka_port": 0, "kafka_tls_port": 0}
    values.update(overrides)
    known = set(Settings.__dataclass_fields__)
    return Settings(**{k: v for k, v in values.items() if k in known})


def ensure_token(settings: Settings) -> str:
    """The admin password (the daemon's API token), made if the home has none yet."""
    if not settings.token_path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        settings.token_path.write_text(secrets.token_urlsafe(24))
    return settings.token_path.read_text().strip()


class BrokerThread:
    """A KafkaService on its own thread and event loop; `call` runs code on that loop."""

    def __init__(self, settings: Settings, initial_rebalance_delay: float | None = None):
        if initial_rebalance_delay is not None:
            settings = settings.with_(kafka_group_initial_rebalance_delay=initial_rebalance_delay)
        self.settings = settings
        self.service: KafkaService | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="paas-kafka", daemon=True)

    def _run(self) -> None:
        import uvloop

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            ensure_token(self.settings)
            svc = KafkaService(self.settings, EventBus(), local_ca(self.settings))
            try:
                await svc.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self.service = svc
            self._ready.set()
            await self._stop.wait()
            await svc.stop()

        uvloop.run(main())

    def start(self) -> BrokerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("Kafka broker did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def sync(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run a plain function on the broker's loop (KafkaService is not thread-safe)."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper, timeout)

    @property
    def svc(self) -> KafkaService:
        assert self.service is not None
        return self.service

    @property
    def embedded(self) -> EmbeddedBroker:
        assert self.service is not None and self.service.embedded is not None
        return self.service.embedded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run the paas Kafka broker alone")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--tenant", default="kafka-bench-10000", help="'' for none")
    parser.add_argument("--plan", default="basic-2")
    parser.add_argument("--topic", action="append", default=[], help="NAME:PARTITIONS, a platform topic")
    args = parser.parse_args(argv)

    async def run() -> None:
        settings = broker_settings(args.home)
        ensure_token(settings)
        svc = KafkaService(settings, EventBus(), local_ca(settings))
        await svc.start()
        embedded = svc.embedded
        assert embedded is not None
        for spec in args.topic:
            name, _, count = spec.partition(":")
            if name not in embedded.registry.topics:
                embedded.create_topic(name, int(count or 1), {})
        config: dict[str, str] = {}
        if args.tenant and args.tenant not in svc.store.tenants:
            config = svc.config_vars(await svc.create_tenant(args.tenant, "bench", args.plan))
        elif args.tenant:
            config = svc.config_vars(await svc.reset_credentials(args.tenant))
        print(
            json.dumps(
                {
                    "port": svc.port,
                    "tls_port": svc.tls_port,
                    "config": config,
                    "admin": {"username": ADMIN_USER, "password": settings.token_path.read_text().strip()},
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), stop.set)  # parent closes stdin to stop us
        await stop.wait()
        await svc.stop()

    import uvloop

    uvloop.run(run())


if __name__ == "__main__":
    main()
