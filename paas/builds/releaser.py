"""The release path of every deploy, promotion and rollback: a slug + a config snapshot = vN.

Without a `release:` process type the release is created `succeeded` at once; the
`release.created` event makes the dyno manager restart the formation (or preboot it).

With one, Heroku's release phase: the release is created `pending`, its command runs in a
one-off dyno `release.NNNN` with the new slug and config (output in the log stream as
`app[release.NNNN]` and, during a build, in the build output), and only on exit status 0 does
the release become `succeeded` and go live. Any other outcome marks it `failed`; the running
dynos, the formation and the config stay as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from common.errors import PaasError, invalid
from common.events import Event, EventBus
from dynos.manager import DynoManager
from paas.builds.service import current_output
from paas.control import USER, ControlPlane
from paas.state.models import Release, Slug

RELEASE_PHASE_TIMEOUT = 3600.0  # Heroku: a release command may run for at most one hour
MAX_RELEASE_OUTPUT_LINES = 5000


def _say(line: str) -> None:
    out = current_output.get()
    if out is not None:
        out.write(line)


def release_command(control: ControlPlane, app: str, slug_id: str | None) -> str | None:
    if not slug_id:
        return None
    slug = control.get_slug(app, slug_id)
    command = (slug.get("process_types") or {}).get("release")
    return str(command) if command else None


class ReleasePath:
    """Every release an app gets goes through here: deploys, config changes, rollbacks,
    promotions; a `release:` process type runs first, in a one-off dyno."""

    def __init__(
        self,
        control: ControlPlane,
        bus: EventBus,
        dynos: DynoManager,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.control = control
        self.bus = bus
        self.dynos = dynos
        self.report_error = report_error

    async def release_slug(self, app: str, slug_id: str, description: str) -> dict[str, Any]:
        control = self.control
        command = release_command(control, app, slug_id)
        control.logs.api_line(app, f"{description} by user {USER}")
        if command is None:
            return control.create_release(app, slug_id, description)
        pending = _create_pending(control, app, slug_id, description, config=None)
        return await self._release_phase(app, pending, command, restore_config=None)

    async def rollback(self, app: str, ref: str | None) -> dict[str, Any]:
        control = self.control
        target = _rollback_target(control, app, ref)
        command = release_command(control, app, target.slug_id)
        control.logs.api_line(app, f"Rollback to v{target.version} by user {USER}")
        if command is None:
            return control.rollback(app, ref)
        previous_config = control.get_config(app)
        pending = _create_pending(
            control, app, target.slug_id, f"Rollback to v{target.version}", config=dict(target.config or {})
        )
        return await self._release_phase(app, pending, command, restore_config=previous_config)

    async def update_config(self, app: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A config change is a release too: with a `release:` command Heroku runs it first, and a
        failure leaves the running release and the config as they were."""
        control = self.control
        command = release_command(control, app, control.current_slug_id(app))
        if command is None:
            return control.update_config(app, changes)
        previous_config = control.get_config(app)
        pending = control.update_config(app, changes, status="pending")
        if pending.get("status") != "pending":
            return pending  # nothing changed, no release was made
        release = await self._release_phase(app, pending, command, restore_config=previous_config)
        if release.get("status") == "failed":
            raise invalid(
                f"Release v{release['version']} failed: its release command did not succeed, so the config "
                f"vars were not changed. See `paas releases:output v{release['version']}`."
            )
        return release

    async def _release_phase(
        self, app: str, pending: dict[str, Any], command: str, restore_config: dict[str, str] | None
    ) -> dict[str, Any]:
        control = self.control
        version = int(pending["version"])
        _say("-----> Running release command...")
        try:
            status, output = await self.run_command(app, version, command)
        except Exception as exc:  # the daemon must survive; the release simply fails
            self.report_error(exc)
            status, output = 1, [f"release phase could not run: {exc.__class__.__name__}: {exc}"]
        text = "\n".join(output)
        if status == 0:
            _say("       Release command succeeded")
            _ensure_formation(control, app, pending)
            return control.finish_release(app, version, "succeeded", text)
        _say(f" !     Release command failed with exit status {status}")
        if restore_config is not None:
            _restore_config(control, app, restore_config)
        control.logs.api_line(app, f"Release v{version} command failed by user {USER}")
        return control.finish_release(app, version, "failed", text)

    async def run_command(
        self,
        app: str,
        version: int,
        command: str,
        dyno_type: str = "release",
        timeout: float = RELEASE_PHASE_TIMEOUT,
    ) -> tuple[int, list[str]]:
        """Run `command` as `<dyno_type>.NNNN` on release `version`; returns (exit status, output
        lines). The lines also go to the log stream and, indented, to the current build output."""
        control = self.control
        with control.db.session() as s:
            app_row = control._app(s, app)
            release = control._find_release(s, app_row, version)
            slug = s.get(Slug, release.slug_id) if release.slug_id else None
            config = dict(release.config or {})
            slug_dir = Path(slug.path) if slug else None
            image = slug.docker_image if slug else None
        desired = replace(
            control.desired(app),
            release=version,
            slug_dir=slug_dir,
            config=config,
            docker_image=image,
            processes=(),
        )
        name = f"{dyno_type}.{random.randint(1000, 9999)}"
        lines: list[str] = []

        def collect(event: Event) -> None:
            line = event.data.get("line")
            if event.app != app or line is None or line.dyno != name or line.source != "app":
                return
            if len(lines) < MAX_RELEASE_OUTPUT_LINES:
                lines.append(line.text)
                _say(f"       {line.text}")

        unlisten = self.bus.listen(["log.line"], collect)
        try:
            oneoff = await self.dynos.run_oneoff(desired, command, attach=False, name=name)
            try:
                status = await asyncio.wait_for(oneoff.wait(), timeout)
            except TimeoutError:
                lines.append(f"{dyno_type} command timed out after {timeout:g} s")
                with contextlib.suppress(Exception):
                    await oneoff.stop()
                status = 1
        finally:
            unlisten()
        return int(status), lines


def _rollback_target(control: ControlPlane, app: str, ref: str | None) -> Release:
    """The release `rollback [ref]` goes back to (same rules as ControlPlane.rollback)."""
    with control.db.session() as s:
        app_row = control._app(s, app)
        if ref is None:
            current = control._current_release(s, app_row)
            if current is None or current.version <= 1:
                raise invalid("No release to roll back to.")
            target = s.scalar(
                select(Release)
                .where(
                    Release.app_id == app_row.id,
                    Release.version < current.version,
                    Release.status == "succeeded",
                )
                .order_by(Release.version.desc())
                .limit(1)
            )
            if target is None:
                raise invalid("No release to roll back to.")
        else:
            target = control._find_release(s, app_row, ref)
        if target.status != "succeeded":
            raise invalid(f"Release v{target.version} failed and can't be rolled back to.")
        s.expunge(target)
        return target


def _create_pending(
    control: ControlPlane, app: str, slug_id: str | None, description: str, config: dict[str, str] | None
) -> dict[str, Any]:
    """A `pending` release; the formation is left alone until the release phase succeeds."""
    with control.db.session() as s:
        app_row = control._app(s, app)
        if slug_id is not None:
            slug = s.get(Slug, slug_id)
            if slug is None or slug.app_id != app_row.id:
                raise PaasError(404, "not_found", "Couldn't find that slug.")
        if config is not None:
            app_row.config = config
        release = control._new_release(s, app_row, description, slug_id, status="pending")
        data = control._release_json(release)
        name = app_row.name
    control._announce_release(name, data)
    return data


def _ensure_formation(control: ControlPlane, app: str, release: dict[str, Any]) -> None:
    slug_id = (release.get("slug") or {}).get("id")
    if not slug_id:
        return
    with control.db.session() as s:
        app_row = control._app(s, app)
        slug = s.get(Slug, slug_id)
        if slug is not None:
            control._ensure_formation(s, app_row, dict(slug.process_types or {}))


def _restore_config(control: ControlPlane, app: str, config: dict[str, str]) -> None:
    with control.db.session() as s:
        control._app(s, app).config = config
