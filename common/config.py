"""Daemon settings: every knob is an environment variable `PAAS_*` with Heroku's default.

Timers are seconds and accept fractions, so a class can watch an H12 in two seconds
(`PAAS_ROUTER_TIMEOUT=2`). A port of 0 asks the OS for a free one (used by tests); the
daemon writes the ports it really bound to `<home>/daemon.json` so clients find it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class SettingsError(ValueError):
    """A PAAS_* variable has a value the daemon cannot use."""


def default_home() -> Path:
    return Path(os.path.expanduser("~/.local/share/paas"))


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=default_home)
    api_port: int = 5100
    api_tls_port: int = 5101  # the API again over TLS (local CA): git over https, the data API
    rendezvous_port: int = 5102  # `heroku run`'s rendezvous: TLS, a secret line, then the terminal
    router_port: int = 5000
    router_tls_port: int = 5443  # HTTPS and HTTP/2 (`https://<app>.localhost:5443/`)
    kafka_port: int = 9092
    kafka_tls_port: int = 9096
    runtime: str = "auto"  # auto | process | docker
    database_url: str | None = None  # state database; SQLite under home when unset
    postgres_url: str | None = None  # external server for Postgres add-ons
    stack_image: str = "heroku/heroku:24"
    # dyno timers
    boot_timeout: float = 60.0
    stop_timeout: float = 30.0
    crash_backoff_max: float = 1200.0
    cycle_interval: float = 86400.0  # 0 = daily cycling off
    memory_check_interval: float = 1.0
    runtime_metrics_interval: float = 20.0  # log-runtime-metrics samples (Heroku: every 20 s)
    # log drains and app webhooks: the first retry's delay, doubled per failed attempt
    drain_retry_base: float = 1.0
    webhook_retry_base: float = 5.0
    # router timers
    router_connect_timeout: float = 5.0
    router_timeout: float = 30.0
    router_idle_timeout: float = 55.0
    router_hold_timeout: float = 75.0
    router_max_inflight: int = 200
    router_quarantine: float = 5.0  # a refusing / slow-to-accept dyno is skipped this long
    router_keepalive_timeout: float = 60.0  # idle client keep-alive connections are closed
    router_pool_idle_timeout: float = 90.0  # Router 2.0: idle kept-alive dyno connections
    router_max_connections: int = 10000  # client connections per router before H22
    # Router processes sharing the router ports (SO_REUSEPORT); 0 = in the daemon's own loop.
    # 2: a laptop has 4+ cores; two routers keep routing while the daemon's loop is busy and
    # one survives the other's death, without taking the cores builds and dynos need.
    router_workers: int = 2
    router_channel_buffer: int = 4 * 1024 * 1024  # bytes of records a router process may queue
    acm_check_interval: float = 3600.0  # how often certificates near their end are renewed
    # dataclips
    dataclip_timeout: float = 600.0
    dataclip_max_bytes: int = 32 * 1024 * 1024  # a result's text beyond this is cut (and says so)
    # builds
    slug_size_limit_mb: float = 500.0
    source_size_limit_mb: float = 1024.0  # what one source may expand to on disk
    source_max_files: int = 100_000  # files, directories and links in one source
    build_timeout: float = 900.0
    # review apps: one without a deploy this long is destroyed (pipelines with --autodestroy)
    review_app_stale: float = 5 * 86400.0  # Heroku's default: 5 days
    # kafka (the shared broker)
    kafka_segment_bytes: int = 64 * 1024 * 1024  # log segment size before rolling
    kafka_retention_check_interval: float = 60.0  # how often expired data is deleted
    kafka_group_initial_rebalance_delay: float = 3.0  # group.initial.rebalance.delay.ms
    kafka_max_connections: int = 1000  # per listener; more are refused and counted
    # an external Kafka cluster for the add-on (the embedded broker is then not started)
    kafka_url: str = ""  # kafka://host:port (SASL_PLAINTEXT) or kafka+ssl://host:port (SASL_SSL)
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""  # an admin principal of that cluster
    kafka_sasl_password: str = ""
    kafka_trusted_cert: str = ""  # PEM (or a path to one) of the cluster's CA, for kafka+ssl://
    # metrics (the Metrics view): one step per this many seconds, over the last hour
    metrics_resolution: int = 60
    # Heroku Scheduler: 60 makes "every 10 minutes" come every 10 s (a class can watch it)
    scheduler_time_scale: float = 1.0
    # autoscaling: p95 over the last `window` seconds, judged every `interval`, a step at most
    # every `cooldown` (Heroku: at least one minute between autoscaling events)
    autoscale_window: float = 300.0
    autoscale_interval: float = 15.0
    autoscale_cooldown: float = 60.0
    # Postgres backups (pg:backups)
    pg_backup_day: float = 86400.0  # one day of the backup schedule; 60 makes `--at 02:00` fire every minute
    pg_backup_url_ttl: float = 3600.0  # how long a pg:backups:url link works
    pg_backup_concurrency: int = 2  # pg_dump / pg_restore processes at once; more wait their turn

    # env var name -> field name; later parts add theirs here
    ENV_NAMES = {
        "PAAS_HOME": "home",
        "PAAS_API_PORT": "api_port",
        "PAAS_API_TLS_PORT": "api_tls_port",
        "PAAS_RENDEZVOUS_PORT": "rendezvous_port",
        "PAAS_ROUTER_PORT": "router_port",
        "PAAS_ROUTER_TLS_PORT": "router_tls_port",
        "PAAS_KAFKA_PORT": "kafka_port",
        "PAAS_KAFKA_TLS_PORT": "kafka_tls_port",
        "PAAS_RUNTIME": "runtime",
        "PAAS_DATABASE_URL": "database_url",
        "PAAS_POSTGRES_URL": "postgres_url",
        "PAAS_STACK_IMAGE": "stack_image",
        "PAAS_BOOT_TIMEOUT": "boot_timeout",
        "PAAS_STOP_TIMEOUT": "stop_timeout",
        "PAAS_CRASH_BACKOFF_MAX": "crash_backoff_max",
        "PAAS_CYCLE_INTERVAL": "cycle_interval",
        "PAAS_MEMORY_CHECK_INTERVAL": "memory_check_interval",
        "PAAS_RUNTIME_METRICS_INTERVAL": "runtime_metrics_interval",
        "PAAS_DRAIN_RETRY_BASE": "drain_retry_base",
        "PAAS_WEBHOOK_RETRY_BASE": "webhook_retry_base",
        "PAAS_ROUTER_CONNECT_TIMEOUT": "router_connect_timeout",
        "PAAS_ROUTER_TIMEOUT": "router_timeout",
        "PAAS_ROUTER_IDLE_TIMEOUT": "router_idle_timeout",
        "PAAS_ROUTER_HOLD_TIMEOUT": "router_hold_timeout",
        "PAAS_ROUTER_MAX_INFLIGHT": "router_max_inflight",
        "PAAS_ROUTER_QUARANTINE": "router_quarantine",
        "PAAS_ROUTER_KEEPALIVE_TIMEOUT": "router_keepalive_timeout",
        "PAAS_ROUTER_POOL_IDLE_TIMEOUT": "router_pool_idle_timeout",
        "PAAS_ROUTER_MAX_CONNECTIONS": "router_max_connections",
        "PAAS_ROUTER_WORKERS": "router_workers",
        "PAAS_ROUTER_CHANNEL_BUFFER": "router_channel_buffer",
        "PAAS_ACM_CHECK_INTERVAL": "acm_check_interval",
        "PAAS_DATACLIP_TIMEOUT": "dataclip_timeout",
        "PAAS_DATACLIP_MAX_BYTES": "dataclip_max_bytes",
        "PAAS_SLUG_SIZE_LIMIT_MB": "slug_size_limit_mb",
        "PAAS_SOURCE_SIZE_LIMIT_MB": "source_size_limit_mb",
        "PAAS_SOURCE_MAX_FILES": "source_max_files",
        "PAAS_BUILD_TIMEOUT": "build_timeout",
        "PAAS_REVIEW_APP_STALE": "review_app_stale",
        "PAAS_KAFKA_SEGMENT_BYTES": "kafka_segment_bytes",
        "PAAS_KAFKA_RETENTION_CHECK_INTERVAL": "kafka_retention_check_interval",
        "PAAS_KAFKA_GROUP_INITIAL_REBALANCE_DELAY": "kafka_group_initial_rebalance_delay",
        "PAAS_KAFKA_MAX_CONNECTIONS": "kafka_max_connections",
        "PAAS_KAFKA_URL": "kafka_url",
        "PAAS_KAFKA_SASL_MECHANISM": "kafka_sasl_mechanism",
        "PAAS_KAFKA_SASL_USERNAME": "kafka_sasl_username",
        "PAAS_KAFKA_SASL_PASSWORD": "kafka_sasl_password",
        "PAAS_KAFKA_TRUSTED_CERT": "kafka_trusted_cert",
        "PAAS_METRICS_RESOLUTION": "metrics_resolution",
        "PAAS_SCHEDULER_TIME_SCALE": "scheduler_time_scale",
        "PAAS_AUTOSCALE_WINDOW": "autoscale_window",
        "PAAS_AUTOSCALE_INTERVAL": "autoscale_interval",
        "PAAS_AUTOSCALE_COOLDOWN": "autoscale_cooldown",
        "PAAS_PG_BACKUP_DAY": "pg_backup_day",
        "PAAS_PG_BACKUP_URL_TTL": "pg_backup_url_ttl",
        "PAAS_PG_BACKUP_CONCURRENCY": "pg_backup_concurrency",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for var, name in cls.ENV_NAMES.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _convert(var, raw, str(types[name]))
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.runtime not in ("auto", "process", "docker"):
            raise SettingsError(f"PAAS_RUNTIME must be auto, process or docker, not {self.runtime!r}")
        for name in (
            "api_port",
            "api_tls_port",
            "rendezvous_port",
            "router_port",
            "router_tls_port",
            "kafka_port",
            "kafka_tls_port",
        ):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{name} must be a port number (0-65535), not {port}")
        if not 1 <= self.metrics_resolution <= 300:
            raise SettingsError(
                f"PAAS_METRICS_RESOLUTION must be whole seconds from 1 to 300, not {self.metrics_resolution}"
            )
        if not 0 < self.scheduler_time_scale <= 3600:
            raise SettingsError("PAAS_SCHEDULER_TIME_SCALE must be more than 0 and at most 3600")
        for name in ("autoscale_window", "autoscale_interval"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"PAAS_{name.upper()} must be more than 0 seconds")
        self._validate_router()
        if self.pg_backup_day < 1:
            raise SettingsError(f"PAAS_PG_BACKUP_DAY must be at least 1 second, not {self.pg_backup_day}")
        if self.pg_backup_concurrency < 1:
            raise SettingsError("PAAS_PG_BACKUP_CONCURRENCY must be at least 1")

    def _validate_router(self) -> None:
        if not 0 <= self.router_workers <= 64:
            raise SettingsError(
                f"PAAS_ROUTER_WORKERS must be from 0 (in the daemon) to 64, not {self.router_workers}"
            )
        if self.router_channel_buffer < 1024:
            raise SettingsError("PAAS_ROUTER_CHANNEL_BUFFER must be at least 1024 bytes")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    # paths under home
    @property
    def state_db_path(self) -> Path:
        return self.home / "state.sqlite3"

    @property
    def state_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_db_path}"

    @property
    def token_path(self) -> Path:
        return self.home / "token"

    @property
    def daemon_file(self) -> Path:
        return self.home / "daemon.json"

    @property
    def lock_path(self) -> Path:
        return self.home / "daemon.lock"

    @property
    def slugs_dir(self) -> Path:
        return self.home / "slugs"

    @property
    def dynos_dir(self) -> Path:
        return self.home / "dynos"

    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def kafka_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"

    @property
    def pg_backups_dir(self) -> Path:
        return self.home / "pgbackups"

    @property
    def ca_dir(self) -> Path:
        return self.home / "ca"

    @property
    def certs_dir(self) -> Path:
        return self.home / "certs"


def _convert(var: str, raw: str, type_name: str) -> Any:
    try:
        if "Path" in type_name:
            return Path(os.path.expanduser(raw))
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            value = float(raw)
            if value < 0:
                raise ValueError
            return value
    except ValueError:
        kind = "a whole number" if type_name.startswith("int") else "a non-negative number of seconds"
        raise SettingsError(f"{var} must be {kind}, not {raw!r}") from None
    return raw
