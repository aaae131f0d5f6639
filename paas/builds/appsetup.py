"""App setups: create an app's first deploy from source with an `app.json` (Heroku Button style).

`app.json` keys honoured: `env` (strings or `{value, required, generator: "secret", description}`),
`addons` (strings or `{plan, as}`), `formation` (`{type: {quantity, size}}`) and
`scripts.postdeploy` (a string or `{command}`), run once in a one-off dyno after the first release,
and `scripts.pr-predestroy` (kept for review apps, run before one is destroyed).
`environments.<name>` (e.g. `review`) overrides the base: `env`, `formation` and `scripts` key by
key, any other key (`addons`, ...) as a whole.
Everything is validated before anything is changed, so a bad `app.json` leaves the app untouched.
Order, as on Heroku: config vars → add-ons (their config vars join) → build + release →
formation → postdeploy. The progress of every step is one output stream.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import PaasError, invalid
from paas.addons.service import AddonService
from paas.builds.service import BuildOutput, BuildService
from paas.builds.source import SourceError, SourceLimits, extract_tarball
from paas.control import ControlPlane, validate_config_key
from paas.control.releases import ReleasePath, progress
from paas.control.values import FormationChange

KEEP_SETUPS = 50
POSTDEPLOY_TIMEOUT = 3600.0


@dataclass
class Manifest:
    env: dict[str, str] = field(default_factory=dict)
    addons: list[tuple[str, str | None]] = field(default_factory=list)  # (plan, attachment name)
    formation: list[FormationChange] = field(default_factory=list)
    postdeploy: str | None = None
    predestroy: str | None = None
    success_url: str | None = None


@dataclass
class Setup:
    id: str
    app: str
    status: str = "pending"
    failure_message: str | None = None
    build_id: str | None = None
    postdeploy: dict[str, Any] | None = None
    manifest_found: bool = False
    success_url: str | None = None  # app.json's `success_url`, relative to the app's web URL
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    output: BuildOutput = field(default_factory=BuildOutput)
    task: asyncio.Task[None] | None = None

    def finish(self, status: str, failure_message: str | None = None) -> None:
        self.status, self.failure_message, self.updated_at = status, failure_message, datetime.now(UTC)


def parse_manifest(data: Any, overrides: dict[str, str], addons: AddonService | None = None) -> Manifest:
    """Validate app.json; raises a 422 naming the first problem."""
    if not isinstance(data, dict):
        raise invalid("app.json must contain a JSON object.")
    return Manifest(
        env=_env(data.get("env") or {}, overrides),
        addons=_addons(data.get("addons") or [], addons),
        formation=_formation(data.get("formation") or {}),
        postdeploy=_script(data.get("scripts") or {}, "postdeploy"),
        predestroy=_script(data.get("scripts") or {}, "pr-predestroy"),
        success_url=_success_url(data.get("success_url")),
    )


MERGED_KEYS = ("env", "formation", "scripts")


def for_environment(data: Any, environment: str) -> Any:
    """app.json as `environment` sees it: `environments.<environment>` over the base keys."""
    if not isinstance(data, dict):
        return data
    environments = data.get("environments") or {}
    if not isinstance(environments, dict):
        raise invalid("app.json: environments must be an object.")
    override = environments.get(environment)
    if override is None:
        override = {}
    if not isinstance(override, dict):
        raise invalid(f"app.json: environments.{environment} must be an object.")
    merged = {k: v for k, v in data.items() if k != "environments"}
    for key, value in override.items():
        base = merged.get(key)
        if key in MERGED_KEYS and isinstance(base, dict) and isinstance(value, dict):
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


def _env(env: Any, overrides: dict[str, str]) -> dict[str, str]:
    if not isinstance(env, dict):
        raise invalid("app.json: env must be an object of config vars.")
    out: dict[str, str] = {}
    for key, spec in env.items():
        validate_config_key(str(key))
        value = str(overrides[key]) if key in overrides else _env_value(str(key), spec)
        if value is not None:
            out[key] = value
    for key, override in overrides.items():
        validate_config_key(key)
        out.setdefault(key, str(override))
    return out


def _env_value(key: str, spec: Any) -> str | None:
    """One `env` entry's value: given, generated, or None when optional and unset."""
    if isinstance(spec, str | int | float | bool):
        return str(spec)
    if not isinstance(spec, dict):
        raise invalid(f"app.json: env.{key} must be a string or an object.")
    generator = spec.get("generator")
    if generator is not None and generator != "secret":
        raise invalid(f'app.json: env.{key}.generator must be "secret", not {generator!r}.')
    if generator == "secret":
        return secrets.token_hex(32)
    if spec.get("value") is not None:
        return str(spec["value"])
    if spec.get("required", True) is not False:
        raise invalid(
            f"app.json: config var {key} is required but has no value (give it a value or a "
            f"generator, or set required: false)."
        )
    return None


def _addons(specs: Any, addons: AddonService | None) -> list[tuple[str, str | None]]:
    if not isinstance(specs, list):
        raise invalid("app.json: addons must be a list.")
    out: list[tuple[str, str | None]] = []
    for item in specs:
        if isinstance(item, str):
            plan, attachment = item, None
        elif isinstance(item, dict) and isinstance(item.get("plan"), str):
            plan, attachment = item["plan"], item.get("as")
            if attachment is not None and not isinstance(attachment, str):
                raise invalid("app.json: addons[].as must be a string.")
        else:
            raise invalid("app.json: each add-on is a plan string or an object with a plan.")
        if addons is not None:
            addons.resolve(plan)  # unknown service / plan: a clear 404/422 now, not halfway
        out.append((plan, attachment.upper() if attachment else None))
    return out


def _formation(formation: Any) -> list[FormationChange]:
    if not isinstance(formation, dict):
        raise invalid("app.json: formation must be an object of process types.")
    out = []
    for ptype, spec in formation.items():
        if not isinstance(spec, dict):
            raise invalid(f"app.json: formation.{ptype} must be an object with quantity and/or size.")
        quantity = spec.get("quantity")
        if "quantity" in spec and (
            isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0
        ):
            raise invalid(f"app.json: formation.{ptype}.quantity must be a whole number of 0 or more.")
        size = str(spec["size"]) if spec.get("size") else None
        out.append(FormationChange(str(ptype), quantity, size))
    return out


def _success_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise invalid("app.json: success_url must be a path that starts with '/'.")
    return value


def _script(scripts: Any, name: str) -> str | None:
    if not isinstance(scripts, dict):
        raise invalid("app.json: scripts must be an object.")
    script = scripts.get(name)
    if isinstance(script, dict):
        script = script.get("command")
    if script is not None and (not isinstance(script, str) or not script.strip()):
        raise invalid(f"app.json: scripts.{name} must be a command string.")
    return script


def read_manifest_file(source: Path) -> Any:
    path = source / "app.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"app.json is not valid JSON: {exc}") from None


class AppSetups:
    """The app setups of this daemon: started, followed, kept (the last KEEP_SETUPS finished)."""

    def __init__(
        self,
        control: ControlPlane,
        addons: AddonService,
        builds: BuildService,
        releases: ReleasePath,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.control = control
        self.addons = addons
        self.builds = builds
        self.releases = releases
        self.report_error = report_error
        self.work_dir = control.settings.home / "builds"
        self._setups: OrderedDict[str, Setup] = OrderedDict()

    def get(self, app: str, setup_id: str) -> Setup:
        setup = self._setups.get(setup_id)
        if setup is None or setup.app != app:
            raise PaasError(404, "not_found", "Couldn't find that app setup.")
        return setup

    async def start(self, app: str, source_url: str, version: str | None, overrides: dict[str, str]) -> Setup:
        name = self.control.get_app(app).name
        archive = self.builds.source_path(source_url)
        work = self.work_dir / f"setup-{uuid.uuid4().hex}"
        try:
            limits = SourceLimits.from_settings(self.control.settings)
            await asyncio.to_thread(extract_tarball, archive, work, limits)
            raw = read_manifest_file(work)
            manifest = parse_manifest(raw if raw is not None else {}, overrides, self.addons)
        except SourceError as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise invalid(str(exc)) from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            archive.unlink(missing_ok=True)
        return self.begin(name, manifest, work, version, manifest_found=raw is not None)

    def begin(
        self,
        app: str,
        manifest: Manifest,
        work: Path,
        version: str | None,
        manifest_found: bool,
        on_finish: Callable[[Setup], Awaitable[None]] | None = None,
    ) -> Setup:
        """Set `app` up from extracted source `work` (removed when done) and a validated manifest.
        `on_finish` runs once the setup ends, before its output closes (its lines join it)."""
        setup = Setup(
            id=str(uuid.uuid4()), app=app, manifest_found=manifest_found, success_url=manifest.success_url
        )
        self._setups[setup.id] = setup
        for old in list(self._setups)[:-KEEP_SETUPS]:
            if self._setups[old].status != "pending":
                del self._setups[old]
        setup.task = asyncio.create_task(self._run(setup, manifest, work, version, on_finish))
        return setup

    async def _run(
        self,
        setup: Setup,
        manifest: Manifest,
        work: Path,
        version: str | None,
        on_finish: Callable[[Setup], Awaitable[None]] | None,
    ) -> None:
        out = setup.output
        token = progress.set(out.write)
        try:
            await self._steps(setup, manifest, work, version)
            setup.finish("succeeded")
            out.write("-----> App setup succeeded")
        except PaasError as exc:
            setup.finish("failed", exc.message)
            out.write(f" !     {exc.message}")
        except Exception as exc:
            self.report_error(exc)
            setup.finish("failed", f"internal error: {exc.__class__.__name__}: {exc}")
            out.write(f" !     {setup.failure_message}")
        finally:
            progress.reset(token)
            await self._finished(setup, on_finish)
            out.finish()
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _finished(self, setup: Setup, on_finish: Callable[[Setup], Awaitable[None]] | None) -> None:
        if on_finish is None:
            return
        try:
            await on_finish(setup)
        except Exception as exc:
            self.report_error(exc)

    async def _steps(self, setup: Setup, manifest: Manifest, work: Path, version: str | None) -> None:
        out = setup.output
        if not setup.manifest_found:
            out.write("-----> No app.json found: deploying the source as it is")
        if manifest.env:
            out.write(f"-----> Setting config vars: {', '.join(sorted(manifest.env))}")
            await self.releases.update_config(setup.app, dict(manifest.env))
        for plan, attachment in manifest.addons:
            out.write(f"-----> Provisioning {plan}" + (f" as {attachment}" if attachment else ""))
            addon = await self.addons.create(setup.app, plan, attachment=attachment)
            out.write(f"       Created {addon.get('name', plan)}")
        await self._build(setup, work, version)
        if manifest.formation:
            self._scale(setup, manifest.formation)
        if manifest.postdeploy:
            await self._postdeploy(setup, manifest.postdeploy)

    async def _build(self, setup: Setup, work: Path, version: str | None) -> None:
        out = setup.output
        out.write("-----> Building source")
        build = self.builds.start_build(setup.app, None, version, kind="app-setup", source_dir=work)
        build_id = setup.build_id = build.id
        build_out = self.builds.output(build_id)
        if build_out is not None:
            async for line in build_out.follow():
                out.write(line)
        await self.builds.wait(build_id)
        if self.builds.get(setup.app, build_id).status != "succeeded":
            raise PaasError(422, "build_failed", "The build failed; see the output above.")

    def _scale(self, setup: Setup, formation: list[FormationChange]) -> None:
        out = setup.output
        known = {f.type for f in self.control.list_formation(setup.app)}
        updates = [u for u in formation if u.type in known]
        for u in formation:
            if u.type not in known:
                out.write(f" !     app.json formation names {u.type}, which the Procfile does not declare")
        if updates:
            self.control.scale(setup.app, updates)
            out.write(
                "-----> Scaled to "
                + ", ".join(
                    f"{u.type}@{'-' if u.quantity is None else u.quantity}:{u.size or 'unchanged'}"
                    for u in updates
                )
            )

    async def _postdeploy(self, setup: Setup, command: str) -> None:
        current = self.control.store.current_release_info(setup.app)
        version = current.version if current is not None else 0
        setup.output.write(f"-----> Running postdeploy script: {command}")
        status, lines = await self.releases.run_command(
            setup.app, version, command, dyno_type="run", timeout=POSTDEPLOY_TIMEOUT
        )
        setup.postdeploy = {"exit_code": status, "output": "\n".join(lines)}
        if status != 0:
            raise PaasError(422, "postdeploy_failed", f"The postdeploy script exited with status {status}.")
