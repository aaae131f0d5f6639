"""Deploy sources beyond tarballs: `git push` over smart HTTP, and container images.

`/git/<app>.git/...` runs the real `git http-backend` as a CGI subprocess (bare repositories
under `settings.repos_dir`). These paths are outside the bearer-token middleware; git sends
HTTP basic auth instead, and the password must be the daemon's token (any user name).
Pushes run the repository's pre-receive hook, which calls back `POST /apps/<app>/git-builds`
(bearer auth, like any API call) to build the pushed commit and streams the output back to
the pusher as `remote:` lines.

A push of another branch goes to the review apps of the app's pipeline (`paas.builds.reviewapps`).
The response says where the hook reads the outcome: `X-Status-Url` (an API path) or `X-Status`.

`POST /apps/<app>/container-releases` releases a local Docker image as process types
(`paas container:release web --image IMAGE`).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from common.errors import PaasError, invalid, not_found
from paas.api.cgi import run_cgi
from paas.api.deps import Services, Svc
from paas.api.presenters import release_json, setup_json
from paas.builds.compile import BuildFailed
from paas.builds.container import release_image
from paas.builds.gitrepo import ensure_repo, export_commit, git_env, repo_path
from paas.builds.reviewapps import ZERO, PushedCommit, branch_of
from paas.builds.service import BuildOutput
from paas.builds.source import SourceLimits
from paas.control import APP_NAME, USER

router = APIRouter()

DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")

GIT_PATHS = re.compile(
    r"(HEAD|info/refs|objects/info/(alternates|http-alternates|packs)|objects/[0-9a-f]{2}/[0-9a-f]{38,62}"
    r"|objects/pack/pack-[0-9a-f]{40,64}\.(pack|idx)|git-upload-pack|git-receive-pack)"
)


def _unauthorized(message: str = "Invalid credentials provided.") -> Response:
    return Response(
        f"{message}\n",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Basic realm="paas"'},
    )


def basic_auth_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    _user, _, password = decoded.partition(":")
    return hmac.compare_digest(password.encode(), token.encode())


async def _ensure(svc: Services, app: str) -> Path:
    data = svc.control.get_app(app)
    async with svc.builds.repo_locks.hold(data.name):
        return await asyncio.to_thread(ensure_repo, svc.settings.repos_dir, data.name, data.id)


@router.api_route("/git/{repo}/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def git_http(request: Request, svc: Svc, repo: str, path: str) -> Response:
    if not basic_auth_ok(request, svc.token):
        return _unauthorized()
    app = repo.removesuffix(".git")
    if not repo.endswith(".git") or not APP_NAME.fullmatch(app):
        return Response("Not a paas repository.\n", status_code=404, media_type="text/plain")
    if not GIT_PATHS.fullmatch(path):
        return Response("Not found.\n", status_code=404, media_type="text/plain")
    try:
        await _ensure(svc, app)
    except PaasError:
        return Response(f"Couldn't find that app ({app}).\n", status_code=404, media_type="text/plain")
    env = git_env()
    env.update(
        {
            "GIT_PROJECT_ROOT": str(svc.settings.repos_dir),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            "PATH_INFO": f"/{app}.git/{path}",
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "PAAS_HOOK_API": svc.api_url,
            "PAAS_HOOK_TOKEN": svc.token,
            "PAAS_HOOK_APP": app,
        }
    )
    for header, var in (
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        value = request.headers.get(header)
        if value:
            env[var] = value
    return await run_cgi(request, ["git", "http-backend"], env, "git http-backend")


# ---- the pre-receive hook's call back -----------------------------------------------------
class GitBuild(BaseModel):
    model_config = ConfigDict(extra="ignore")
    commit: str
    old: str | None = None
    ref: str = "refs/heads/main"
    git_env: dict[str, str] = {}


@router.post("/apps/{app}/git-builds", status_code=201)
async def git_build(svc: Svc, app: str, body: GitBuild) -> StreamingResponse:
    """Build the pushed commit; the response streams the build output (header X-Build-Id)."""
    name = svc.control.get_app(app).name
    repo = repo_path(svc.settings.repos_dir, name)
    if not repo.is_dir():
        raise not_found("repository")
    if body.ref not in DEPLOY_REFS:
        return await _branch_push(svc, name, repo, body)
    source = await _export(svc, repo, body)
    try:
        build = svc.builds.start_build(name, None, body.commit, kind="git", source_dir=source)
    except BaseException:
        shutil.rmtree(source, ignore_errors=True)
        raise
    build_id = build.id

    async def cleanup() -> None:
        try:
            await svc.builds.wait(build_id)
        finally:
            await asyncio.to_thread(shutil.rmtree, source, True)

    _background.add(task := asyncio.create_task(cleanup()))
    task.add_done_callback(_background.discard)
    headers = {"X-Build-Id": build_id, "X-Status-Url": f"/apps/{name}/builds/{build_id}"}
    return _streamed(svc.builds.output(build_id), headers)


async def _export(svc: Services, repo: Path, body: GitBuild) -> Path:
    source = svc.settings.home / "builds" / f"git-{uuid.uuid4().hex}"
    try:
        await export_commit(repo, body.commit, source, body.git_env, SourceLimits.from_settings(svc.settings))
    except BuildFailed as exc:
        shutil.rmtree(source, ignore_errors=True)
        raise invalid(str(exc)) from None
    return source


async def _branch_push(svc: Services, app: str, repo: Path, body: GitBuild) -> StreamingResponse:
    """A non-main branch: its review app is made, updated or (branch deleted) destroyed."""
    branch = branch_of(body.ref)
    svc.reviewapps.target(app, branch)  # refused before anything is read when it makes no review app
    source = None if body.commit == ZERO else await _export(svc, repo, body)
    pushed = await svc.reviewapps.push(PushedCommit(app, branch, body.commit, source))
    headers = {"X-Review-App": pushed.app}
    if pushed.status_path:
        headers["X-Status-Url"] = pushed.status_path
    else:
        headers["X-Status"] = pushed.status or "unknown"
    return _streamed(pushed.output, headers)


def _streamed(output: BuildOutput | None, headers: dict[str, str]) -> StreamingResponse:
    async def stream() -> AsyncIterator[bytes]:
        if output is None:
            return
        async for line in output.follow():
            yield (line + "\n").encode()

    return StreamingResponse(
        stream(), status_code=201, media_type="text/plain; charset=utf-8", headers=headers
    )


_background: set[asyncio.Task[None]] = set()


# ---- container deploys ---------------------------------------------------------------------
class ContainerRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str
    process_types: list[str] = ["web"]


@router.post("/apps/{app}/container-releases", status_code=201)
async def container_release(svc: Svc, app: str, body: ContainerRelease) -> dict[str, Any]:
    """Release a local Docker image as the given process types (its CMD runs; no rebuild)."""
    return release_json(await release_image(svc.control, svc.releases, app, body.image, body.process_types))


# ---- app setups (app.json) ------------------------------------------------------------------
class SetupSource(BaseModel):
    url: str
    version: str | None = None


class SetupOverrides(BaseModel):
    model_config = ConfigDict(extra="ignore")
    env: dict[str, str] = {}


class AppSetupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source_blob: SetupSource
    overrides: SetupOverrides = SetupOverrides()


@router.post("/apps/{app}/app-setups", status_code=201)
async def create_app_setup(svc: Svc, app: str, body: AppSetupCreate) -> dict[str, Any]:
    """Set an existing (new) app up from uploaded source with app.json; validated before any change."""
    setup = await svc.setups.start(app, body.source_blob.url, body.source_blob.version, body.overrides.env)
    return setup_json(setup, svc.control.urls)


@router.get("/apps/{app}/app-setups/{setup_id}")
async def get_app_setup(svc: Svc, app: str, setup_id: str) -> dict[str, Any]:
    return setup_json(svc.setups.get(svc.control.get_app(app).name, setup_id), svc.control.urls)


@router.get("/apps/{app}/app-setups/{setup_id}/output")
async def app_setup_output(svc: Svc, app: str, setup_id: str) -> StreamingResponse:
    setup = svc.setups.get(svc.control.get_app(app).name, setup_id)

    async def stream() -> AsyncIterator[bytes]:
        async for line in setup.output.follow():
            yield (line + "\n").encode()

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
