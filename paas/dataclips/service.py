"""Dataclips: clips and versions in the state DB, runs through the read-only runner, a short cache.

A clip targets one database: a heroku-postgresql add-on (by name; the query runs with that
add-on's own credentials) or `platform` (the router's events, read by a SELECT-only role).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import Settings
from common.errors import PaasError, invalid, not_found
from paas.dataclips.export import csv_chunks
from paas.dataclips.models import Dataclip, DataclipVersion
from paas.dataclips.platform import PlatformRecorder
from paas.dataclips.runner import ClipError, ClipResult, NotCopyable, QueryRunner
from paas.state.db import Database
from paas.state.models import Addon, App

if TYPE_CHECKING:
    from paas.addons.postgres import PostgresProvider

PLATFORM = "platform"
POSTGRES_SERVICE = "heroku-postgresql"
SLUG_LENGTH = 28
CACHE_SECONDS = 60.0
MAX_SQL = 100_000
MAX_TITLE = 200
CACHE_ENTRIES = 32
CACHE_ROWS = 1_000_000  # rows held across all cached results
CSV_CACHE_BYTES = 32 * 1024 * 1024


def new_slug() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(SLUG_LENGTH))


def is_slug(text: str) -> bool:
    return len(text) == SLUG_LENGTH and text.isascii() and text.isalpha() and text.islower()


@dataclass
class _Cached:
    result: ClipResult | None = None
    csv: bytes | None = None
    at: float = 0.0


class ResultCache:
    """Results for about a minute, bounded by entries and total rows."""

    def __init__(self, ttl: float = CACHE_SECONDS):
        self.ttl = ttl
        self._entries: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> _Cached | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry.at > self.ttl:
            self._entries.pop(key, None)
            return None
        return entry

    def put_result(self, key: tuple[Any, ...], result: ClipResult) -> None:
        self._entries[key] = _Cached(result=result, at=time.monotonic())
        self._entries.move_to_end(key)
        self._trim()

    def put_csv(self, key: tuple[Any, ...], data: bytes) -> None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry.at > self.ttl:
            entry = _Cached(at=time.monotonic())
        entry.csv = data
        self._entries[key] = entry
        self._trim()

    def forget(self, clip_id: int) -> None:
        for key in [k for k in self._entries if k[0] == clip_id]:
            del self._entries[key]

    def _trim(self) -> None:
        while len(self._entries) > CACHE_ENTRIES or self._rows() > CACHE_ROWS:
            self._entries.popitem(last=False)

    def _rows(self) -> int:
        return sum(len(e.result.values) for e in self._entries.values() if e.result is not None)


class DataclipsService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: PostgresProvider,
        runner: QueryRunner | None = None,
        platform: PlatformRecorder | None = None,
    ):
        self.db = db
        self.settings = settings
        self.provider = provider
        self.runner = runner or QueryRunner(timeout=settings.dataclip_timeout)
        self.platform = platform or provider.platform
        self.cache = ResultCache()

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

    async def conninfo(self, target: str) -> str:
        if target == PLATFORM:
            if self.platform is None:
                raise PaasError(
                    503, "platform_unavailable", "The platform database is not part of this daemon."
                )
            return await self.platform.reader_conninfo()
        from paas.addons.postgres import conninfo_of

        with self.db.session() as s:
            data = s.scalar(
                select(Addon.provider_data).where(Addon.name == target, Addon.service == POSTGRES_SERVICE)
            )
        if data is None:
            raise ClipError(
                f"The add-on {target} no longer exists; pick another database for this clip.", "unavailable"
            )
        await self.provider.cluster.start()
        return conninfo_of(data)

    # ---- clips -------------------------------------------------------------------------
    def _clip(self, s: Session, ident: int | str) -> Dataclip:
        clip = None
        if isinstance(ident, int) or str(ident).isdigit():
            clip = s.get(Dataclip, int(ident))
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
            clip = Dataclip(title=title, target=target, sql=sql, version=1, slug=new_slug())
            s.add(clip)
            s.flush()
            s.add(
                DataclipVersion(
                    clip_id=clip.id, number=1, title=title, target=target, sql=sql, note="created"
                )
            )
            return self.clip_json(clip)

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
            for v in s.scalars(select(DataclipVersion).where(DataclipVersion.clip_id == clip.id)):
                s.delete(v)
            s.delete(clip)
        self.cache.forget(int(data["id"]))
        return data

    # ---- running -----------------------------------------------------------------------
    @staticmethod
    def _key(clip: dict[str, Any]) -> tuple[Any, ...]:
        digest = hashlib.sha1(f"{clip['target']}\0{clip['sql']}".encode()).hexdigest()
        return (clip["id"], digest)

    async def run(self, ident: int | str, fresh: bool = False) -> tuple[dict[str, Any], ClipResult]:
        """Run the clip's current SQL; a result under a minute old is reused unless `fresh`."""
        clip = self.get(ident, with_versions=False)
        key = self._key(clip)
        if not fresh and (cached := self.cache.get(key)) is not None and cached.result is not None:
            return clip, cached.result
        conninfo = await self.conninfo(clip["target"])
        result = await self.runner.run(conninfo, clip["sql"], key=str(clip["id"]))
        self.cache.put_result(key, result)
        return clip, result

    async def run_sql(self, target: str, sql: str) -> ClipResult:
        """An unsaved query (the CLI's ad hoc runs and tests)."""
        self._check_target(target)
        return await self.runner.run(await self.conninfo(target), sql, key=f"adhoc:{target}")

    async def cancel(self, ident: int | str) -> int:
        clip = self.get(ident, with_versions=False)
        return await self.runner.cancel(str(clip["id"]))

    async def csv(self, clip: dict[str, Any]) -> AsyncIterator[bytes]:
        """The clip's CSV as chunks; SQL errors raise here, before the first chunk."""
        key = self._key(clip)
        cached = self.cache.get(key)
        if cached is not None and cached.csv is not None:
            return _once(cached.csv)
        if cached is not None and cached.result is not None:
            return _prefixed(csv_chunks(cached.result))
        conninfo = await self.conninfo(clip["target"])
        stream = self.runner.copy_csv(conninfo, clip["sql"], key=str(clip["id"]))
        try:
            await stream.__anext__()
        except NotCopyable:
            _, result = await self.run(clip["id"])
            return _prefixed(csv_chunks(result))
        return self._tee_csv(key, stream)

    async def _tee_csv(self, key: tuple[Any, ...], stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        kept: list[bytes] | None = []
        size = 0
        async for chunk in stream:
            if kept is not None:
                size += len(chunk)
                if size > CSV_CACHE_BYTES:
                    kept = None
                else:
                    kept.append(chunk)
            yield chunk
        if kept is not None:
            self.cache.put_csv(key, b"".join(kept))

    async def schema(self, target: str) -> list[dict[str, Any]]:
        """Tables, columns and types the target's role can see (the schema explorer)."""
        self._check_target(target)
        try:
            conninfo = await self.conninfo(target)
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                rows = await (
                    await conn.execute(
                        "SELECT table_schema, table_name, column_name, data_type "
                        "FROM information_schema.columns "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                        "ORDER BY table_schema, table_name, ordinal_position"
                    )
                ).fetchall()
        except psycopg.Error as e:
            raise PaasError(503, "database_unavailable", f"Cannot read the schema of {target}: {e}") from e
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
    from paas.control import iso

    return iso(ts)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _prefixed(chunks: Any) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
