"""Dataclips: clips and versions in the state DB, runs through the read-only runner, a short cache.

A clip targets one database: a heroku-postgresql add-on (by name; the query runs with that
add-on's read-only credential, never the app's) or `platform` (the router's events, read by a
SELECT-only role). Runs go through `Executions`: one execution per clip version at a time, within
each database's connection share, capped in rows and bytes. A clip's latest result is kept
(`paas.dataclips.kept`) so opening it shows the rows without running it again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from common.config import Settings
from common.errors import PaasError, invalid, not_found
from paas.control import iso
from paas.dataclips import kept as kept_result
from paas.dataclips.budget import ConnectionBudget
from paas.dataclips.cache import Key, ResultCache
from paas.dataclips.chart import AUTO, ChartSettings
from paas.dataclips.executions import Executions
from paas.dataclips.kept import KeptResult
from paas.dataclips.models import Dataclip, DataclipResult, DataclipVersion
from paas.dataclips.platform import PlatformRecorder
from paas.dataclips.results import ClipResult
from paas.dataclips.runner import APPLICATION_NAME, QueryRunner, connect_error
from paas.dataclips.sessions import Sessions
from paas.dataclips.sources import PLATFORM, POSTGRES_SERVICE, ConnectionSources
from paas.postgres.cluster import PostgresCluster
from paas.state.db import Database
from paas.state.models import Addon, App

SLUG_LENGTH = 28
MAX_SQL = 100_000
MAX_TITLE = 200
SCHEMA_SQL = (
    "SELECT table_schema, table_name, column_name, data_type "
    "FROM information_schema.columns "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY table_schema, table_name, ordinal_position"
)


def new_slug() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(SLUG_LENGTH))


def is_slug(text: str) -> bool:
    return len(text) == SLUG_LENGTH and text.isascii() and text.isalpha() and text.islower()


class DataclipsService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        cluster: PostgresCluster,
        platform: PlatformRecorder | None = None,
        runner: QueryRunner | None = None,
        token: Callable[[], str] = lambda: "",
    ):
        self.db = db
        self.settings = settings
        self.cluster = cluster
        self.platform = platform
        self.runner = runner or QueryRunner(
            timeout=settings.dataclip_timeout, byte_cap=settings.dataclip_max_bytes
        )
        self.sources = ConnectionSources(db, cluster, platform)
        self.budget = ConnectionBudget()
        self.cache = ResultCache(max_bytes=2 * self.runner.byte_cap)
        self.executions = Executions(self.runner, self.sources, self.budget, self.cache)
        self._kept_at: dict[int, float] = {}  # clip id → ran_at of the result kept in the database
        self.sessions = Sessions(token)  # who is logged in to the pages (signed by the daemon's token)

    def status(self) -> dict[str, Any]:
        return {
            "cluster_running": self.cluster.running,
            "external": self.cluster.external,
            "platform_events": self.platform.stats() if self.platform is not None else None,
            "running_queries": self.runner.running,
            "timeout_seconds": self.runner.timeout,
            "row_cap": self.runner.row_cap,
            "byte_cap": self.runner.byte_cap,
            "connections": self.budget.stats(),
            "executions": {"in_flight": self.executions.in_flight, "joined": self.executions.joined},
            "cache": self.cache.stats(),
        }

    # ---- targets -----------------------------------------------------------------------
    def targets(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(
                select(Addon.name, App.name, Addon.plan, Addon.attachment)
                .join(App, App.id == Addon.app_id)
                .where(Addon.service == POSTGRES_SERVICE, Addon.state == "provisioned")
                .order_by(Addon.name)
            ).all()
        targets = [
            {"name": PLATFORM, "kind": "platform", "app": None, "description": "router request events"}
        ]
        targets += [
            {"name": name, "kind": "addon", "app": app, "description": f"{attachment} on {app} ({plan})"}
            for name, app, plan, attachment in rows
        ]
        return targets

    def _check_target(self, target: str) -> str:
        if target == PLATFORM:
            return target
        with self.db.session() as s:
            found = s.scalar(
                select(Addon.name).where(Addon.name == target, Addon.service == POSTGRES_SERVICE)
            )
        if found is None:
            raise invalid(
                f"Couldn't find a Postgres add-on named {target!r}. Targets: `platform` or a heroku-postgresql add-on."
            )
        return target

    # ---- clips -------------------------------------------------------------------------
    def _clip(self, s: Session, ident: int | str) -> Dataclip:
        clip = None
        text = str(ident)
        # ASCII digits that fit SQLite's INTEGER ("²" is a digit to str.isdigit, and int() rejects it)
        if text.isascii() and text.isdigit() and len(text) <= 18:
            clip = s.get(Dataclip, int(text))
        if clip is None:
            raise not_found("dataclip")
        return clip

    def clip_json(self, clip: Dataclip, versions: list[DataclipVersion] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": clip.id,
            "title": clip.title,
            "target": clip.target,
            "sql": clip.sql,
            "version": clip.version,
            "slug": clip.slug,
            "share_path": f"/dataclips/{clip.slug}",
            "created_at": _iso(clip.created_at),
            "updated_at": _iso(clip.updated_at),
            "chart": json.loads(clip.chart or "{}") or AUTO.to_json(),
            "forked_from": clip.forked_from,
        }
        if versions is not None:
            data["versions"] = [
                {
                    "number": v.number,
                    "title": v.title,
                    "target": v.target,
                    "sql": v.sql,
                    "note": v.note,
                    "created_at": _iso(v.created_at),
                }
                for v in versions
            ]
        return data

    def all(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [
                self.clip_json(c) for c in s.scalars(select(Dataclip).order_by(Dataclip.updated_at.desc()))
            ]

    def get(self, ident: int | str, with_versions: bool = True) -> dict[str, Any]:
        with self.db.session() as s:
            clip = self._clip(s, ident)
            versions = None
            if with_versions:
                versions = list(
                    s.scalars(
                        select(DataclipVersion)
                        .where(DataclipVersion.clip_id == clip.id)
                        .order_by(DataclipVersion.number.desc())
                    )
                )
            return self.clip_json(clip, versions)

    def by_slug(self, slug: str) -> dict[str, Any] | None:
        if not is_slug(slug):
            return None
        with self.db.session() as s:
            clip = s.scalar(select(Dataclip).where(Dataclip.slug == slug))
            return None if clip is None else self.clip_json(clip)

    def create(self, title: str, target: str, sql: str = "") -> dict[str, Any]:
        title, sql = _check_title(title), _check_sql(sql)
        self._check_target(target)
        with self.db.session() as s:
            return self.clip_json(self._insert(s, title, target, sql, note="created"))

    def _insert(self, s: Session, title: str, target: str, sql: str, note: str, **extra: Any) -> Dataclip:
        clip = Dataclip(title=title, target=target, sql=sql, version=1, slug=new_slug(), **extra)
        s.add(clip)
        s.flush()
        s.add(DataclipVersion(clip_id=clip.id, number=1, title=title, target=target, sql=sql, note=note))
        return clip

    def fork(self, ident: int | str) -> dict[str, Any]:
        """A new clip with the same SQL, database, chart and latest result, "forked from" this one;
        its own history and secret link."""
        with self.db.session() as s:
            old = self._clip(s, ident)
            title = f"{old.title[: MAX_TITLE - 7]} (fork)"
            clip = self._insert(
                s,
                title,
                old.target,
                old.sql,
                note=f"forked from #{old.id}",
                chart=old.chart,
                forked_from=old.id,
            )
            kept = s.get(DataclipResult, old.id)
            if kept is not None:
                s.add(DataclipResult(clip_id=clip.id, ran_at=kept.ran_at, payload=kept.payload))
            return self.clip_json(clip)

    def set_chart(self, ident: int | str, settings: ChartSettings) -> dict[str, Any]:
        """The chart picked in the page, saved with the clip (no new version: the SQL is the same)."""
        with self.db.session() as s:
            clip = self._clip(s, ident)
            clip.chart = json.dumps(settings.to_json())
            return self.clip_json(clip)

    def latest(self, ident: int | str) -> KeptResult | None:
        """The clip's latest kept result, if it has run since its SQL last changed."""
        with self.db.session() as s:
            clip = self._clip(s, ident)
            kept = s.get(DataclipResult, clip.id)
            return None if kept is None else kept_result.load(kept.payload)

    def _keep(self, clip_id: int, result: ClipResult) -> None:
        if self._kept_at.get(clip_id) == result.ran_at:
            return  # a cached result already kept
        payload = kept_result.dump(result)
        with self.db.session() as s:
            if s.get(Dataclip, clip_id) is None:
                return  # deleted while it ran
            s.merge(DataclipResult(clip_id=clip_id, ran_at=result.ran_at, payload=payload))
        self._kept_at[clip_id] = result.ran_at

    def save(
        self, ident: int | str, *, title: str | None = None, target: str | None = None, sql: str | None = None
    ) -> dict[str, Any]:
        """A new version when anything changed; the same clip otherwise."""
        if title is not None:
            title = _check_title(title)
        if sql is not None:
            sql = _check_sql(sql)
        if target is not None:
            self._check_target(target)
        with self.db.session() as s:
            clip = self._clip(s, ident)
            new = (title or clip.title, target or clip.target, clip.sql if sql is None else sql)
            if new != (clip.title, clip.target, clip.sql):
                self._append_version(s, clip, *new, note="saved")
            return self.clip_json(clip)

    def revert(self, ident: int | str, number: int) -> dict[str, Any]:
        with self.db.session() as s:
            clip = self._clip(s, ident)
            old = s.scalar(
                select(DataclipVersion).where(
                    DataclipVersion.clip_id == clip.id, DataclipVersion.number == number
                )
            )
            if old is None:
                raise not_found("version")
            self._append_version(s, clip, old.title, old.target, old.sql, note=f"reverted to v{number}")
            return self.clip_json(clip)

    def _append_version(
        self, s: Session, clip: Dataclip, title: str, target: str, sql: str, note: str
    ) -> None:
        last = (
            s.scalar(select(func.max(DataclipVersion.number)).where(DataclipVersion.clip_id == clip.id)) or 0
        )
        if (target, sql) != (clip.target, clip.sql):  # the kept result answers other SQL
            s.execute(delete(DataclipResult).where(DataclipResult.clip_id == clip.id))
            self._kept_at.pop(clip.id, None)
        clip.title, clip.target, clip.sql, clip.version = title, target, sql, last + 1
        s.add(
            DataclipVersion(clip_id=clip.id, number=last + 1, title=title, target=target, sql=sql, note=note)
        )
        self.cache.forget(clip.id)

    def rotate_slug(self, ident: int | str) -> dict[str, Any]:
        """Revoke the secret link: the old slug answers 404 from now on."""
        with self.db.session() as s:
            clip = self._clip(s, ident)
            clip.slug = new_slug()
            self.cache.forget(clip.id)
            return self.clip_json(clip)

    def delete(self, ident: int | str) -> dict[str, Any]:
        with self.db.session() as s:
            clip = self._clip(s, ident)
            data = self.clip_json(clip)
            # versions first, in one statement: the ORM would otherwise race the FK's ON DELETE CASCADE
            s.execute(delete(DataclipVersion).where(DataclipVersion.clip_id == clip.id))
            s.execute(delete(DataclipResult).where(DataclipResult.clip_id == clip.id))
            s.delete(clip)
        self.cache.forget(int(data["id"]))
        return data

    # ---- running -----------------------------------------------------------------------
    @staticmethod
    def _key(clip: dict[str, Any]) -> Key:
        digest = hashlib.sha1(f"{clip['target']}\0{clip['sql']}".encode()).hexdigest()
        return (int(clip["id"]), digest)

    async def run(self, ident: int | str, fresh: bool = False) -> tuple[dict[str, Any], ClipResult]:
        """Run the clip's current SQL; a result under a minute old is reused unless `fresh`."""
        clip = self.get(ident, with_versions=False)
        result = await self.executions.result(
            self._key(clip), clip["target"], clip["sql"], str(clip["id"]), fresh=fresh
        )
        self._keep(int(clip["id"]), result)
        return clip, result

    async def cancel(self, ident: int | str) -> int:
        clip = self.get(ident, with_versions=False)
        return await self.runner.cancel(str(clip["id"]))

    async def csv(self, clip: dict[str, Any]) -> AsyncIterator[bytes]:
        """The clip's CSV as chunks; SQL errors raise here, before the first chunk."""
        return await self.executions.csv(self._key(clip), clip["target"], clip["sql"], str(clip["id"]))

    async def schema(self, target: str) -> list[dict[str, Any]]:
        """Tables, columns and types the target's role can see (the schema explorer)."""
        self._check_target(target)
        with self.budget.slot(target, self.sources.connection_limit(target)):
            rows = await self.sources.using(target, _schema_rows)
        tables: dict[tuple[str, str], list[dict[str, str]]] = {}
        for schema, table, column, dtype in rows:
            tables.setdefault((schema, table), []).append({"name": column, "type": dtype})
        return [
            {
                "schema": schema,
                "table": table,
                "name": table if schema == "public" else f"{schema}.{table}",
                "columns": cols,
            }
            for (schema, table), cols in tables.items()
        ]


def _check_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise invalid("A dataclip needs a title.")
    if len(title) > MAX_TITLE:
        raise invalid(f"Titles are at most {MAX_TITLE} characters.")
    return title


def _check_sql(sql: str) -> str:
    if len(sql) > MAX_SQL:
        raise invalid(f"The SQL is longer than {MAX_SQL:,} characters.")
    if "\x00" in sql:
        raise invalid("The SQL contains a NUL character.")
    return sql


def _iso(ts: Any) -> str | None:
    return iso(ts)


async def _schema_rows(conninfo: str) -> list[tuple[Any, ...]]:
    try:
        async with await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, application_name=APPLICATION_NAME
        ) as conn:
            return await (await conn.execute(SCHEMA_SQL)).fetchall()
    except psycopg.OperationalError as e:
        raise connect_error(e) from e
    except psycopg.Error as e:
        raise PaasError(503, "database_unavailable", f"Cannot read the schema: {e}") from e
