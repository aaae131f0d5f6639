"""The Node.js buildpack: `npm ci` (or `npm install` without a lockfile), cached node_modules.

node_modules is built in `ctx.cache_dir/node` from package.json + package-lock.json alone and
reused while their hash (and the node version) is unchanged. A `build` script runs in the slug.
Default process type: `web: npm start` when package.json has a start script, else
`web: node server.js` / `node index.js` when that file exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from paas.builds.buildpacks.common import (
    CacheSlot,
    copy_source_to_slug,
    copy_tree,
    detail,
    files_digest,
    run_tool,
    step,
    write_profile_script,
)
from paas.builds.compile import BuildContext, BuildFailed

LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
NPM_QUIET = ("npm warn Unknown user config",)  # this machine's npmrc, not the app's business
PROFILE = """\
# written by the paas Node.js buildpack
export PATH="$HOME/node_modules/.bin:$PATH"
export NODE_ENV="${NODE_ENV:-production}"
"""


def node_version() -> str:
    try:
        return subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def read_package(source: Path) -> dict[str, Any]:
    try:
        data = json.loads((source / "package.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildFailed(f"package.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BuildFailed("package.json must contain a JSON object")
    return data


class NodeBuildpack:
    name = "Node.js"

    def detect(self, source_dir: Path) -> bool:
        return (source_dir / "package.json").is_file()

    async def compile(self, ctx: BuildContext) -> None:
        package = read_package(ctx.source_dir)
        version = await asyncio.to_thread(node_version)
        if not version or shutil.which("npm") is None:
            raise BuildFailed("Node.js app detected, but node and npm are not installed on this machine")
        step(ctx, f"Using Node.js {version} (the host's node)")
        await copy_source_to_slug(ctx)
        lock = next((name for name in LOCKFILES if (ctx.source_dir / name).is_file()), None)
        deps = bool(package.get("dependencies")) or bool(package.get("devDependencies"))
        if deps or lock:
            await self._dependencies(ctx, lock, version)
        else:
            step(ctx, "No dependencies in package.json")
        scripts = package.get("scripts") if isinstance(package.get("scripts"), dict) else {}
        assert isinstance(scripts, dict)
        if "build" in scripts:
            step(ctx, "Running build script")
            await run_tool(
                ctx,
                ["npm", "run", "build"],
                cwd=ctx.slug_dir,
                env=self._env(ctx),
                quiet_prefixes=NPM_QUIET,
                failure="The build script failed",
            )
        write_profile_script(ctx, "nodejs.sh", PROFILE)
        default = self._default_web(ctx.slug_dir, scripts)
        if default:
            ctx.extra["default_process_types"] = {"web": default}

    async def _dependencies(self, ctx: BuildContext, lock: str | None, version: str) -> None:
        key = await asyncio.to_thread(files_digest, ctx.source_dir, ("package.json", *LOCKFILES), (version,))
        slot = CacheSlot(ctx, "node")
        if slot.valid_for(key):
            step(ctx, "Restoring cache")
            detail(ctx, f"Dependencies unchanged (manifest sha256 {key[:12]}): reusing cached node_modules")
        else:
            work = slot.start()
            try:
                work.mkdir(parents=True)
                for name in ("package.json", ".npmrc", *LOCKFILES):
                    if (ctx.source_dir / name).is_file():
                        shutil.copy2(ctx.source_dir / name, work / name)
                if lock:
                    step(ctx, "Installing dependencies with npm ci")
                    args = ["npm", "ci", "--no-audit", "--no-fund"]
                else:
                    step(ctx, "Installing dependencies with npm install (no package-lock.json)")
                    args = ["npm", "install", "--no-audit", "--no-fund"]
                await run_tool(
                    ctx,
                    args,
                    cwd=work,
                    env=self._env(ctx),
                    quiet_prefixes=NPM_QUIET,
                    failure="Failed to install the app's Node.js dependencies (see npm's output above)",
                )
                (work / "node_modules").mkdir(exist_ok=True)
                step(ctx, "Saving cache")
                await asyncio.to_thread(slot.commit, key)
            except BaseException:
                await asyncio.to_thread(slot.abandon)
                raise
        await copy_tree(slot.tree / "node_modules", ctx.slug_dir / "node_modules", hardlink=True)

    @staticmethod
    def _env(ctx: BuildContext) -> dict[str, str]:
        env = dict(os.environ)
        env["npm_config_cache"] = str(ctx.cache_dir / "npm-cache")
        env["npm_config_update_notifier"] = "false"
        return env

    @staticmethod
    def _default_web(slug: Path, scripts: dict[str, Any]) -> str | None:
        if "start" in scripts:
            return "npm start"
        for name in ("server.js", "index.js", "app.js"):
            if (slug / name).is_file():
                return f"node {name}"
        return None
