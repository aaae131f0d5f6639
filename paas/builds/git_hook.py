"""The pre-receive hook of every app repository (copied into `hooks/pre-receive`).

Standard library only: it runs as a separate, short-lived process for every push. It reads
`<old> <new> <ref>` lines (one branch per push), then asks the daemon to build the pushed commit
(`POST /apps/<app>/git-builds`) and prints the build output as it arrives; git shows each line
to the pusher as `remote: ...`. A non-zero exit makes git reject the push, so a failed build
never moves the branch and never touches the running release. The daemon decides what a
non-main branch does (a review app in a pipeline that has them; otherwise it refuses the push).

The daemon passes PAAS_HOOK_API, PAAS_HOOK_TOKEN and PAAS_HOOK_APP in the environment of
`git http-backend`, which hands them on to this hook.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

DEPLOY_BRANCHES = ("refs/heads/main", "refs/heads/master")
ZERO = "0" * 40
QUARANTINE_VARS = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH")


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reject(app: str, *reasons: str) -> int:
    for reason in reasons:
        say(f" !     {reason}")
    say()
    say(f" !\tPush rejected to {app}.")
    say()
    return 1


def refusal(app: str, updates: list[list[str]]) -> int | None:
    """Why this push does not deploy (the hook's exit status), or None when it does."""
    if len(updates) > 1:
        if all(ref in DEPLOY_BRANCHES for _old, _new, ref in updates):
            return reject(app, "Push main or master, not both at once.")
        names = ", ".join(ref.removeprefix("refs/heads/") for _old, _new, ref in updates)
        return reject(app, f"Push one branch at a time, not {names}.")
    _old, new, ref = updates[0]
    if new == ZERO and ref in DEPLOY_BRANCHES:
        return reject(
            app, f"Deleting {ref.removeprefix('refs/heads/')} is not allowed: it is the deploy branch."
        )
    return None


def main() -> int:
    api = os.environ.get("PAAS_HOOK_API", "")
    token = os.environ.get("PAAS_HOOK_TOKEN", "")
    app = os.environ.get("PAAS_HOOK_APP", "app")
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    updates = [u for u in updates if len(u) == 3]
    if not updates:
        return 0
    refused = refusal(app, updates)
    if refused is not None:
        return refused
    if not api:
        return reject(app, "This repository is not served by a paas daemon (PAAS_HOOK_API is unset).")
    old, new, ref = updates[0]
    say("Building source:")
    try:
        status = build(api, token, app, {"commit": new, "old": old, "ref": ref})
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message") or str(exc)
        except ValueError:
            message = str(exc)
        return reject(app, *str(message).splitlines())
    except (urllib.error.URLError, OSError) as exc:
        return reject(app, f"Lost the connection to the paas daemon: {exc}")
    if status != "succeeded":
        return reject(app, "Build failed: the running release is unchanged.")
    say()
    say("Verifying deploy... done.")
    return 0


def build(api: str, token: str, app: str, body: dict[str, object]) -> str:
    """Ask the daemon to build the pushed commit, relay its output; returns the build's status."""
    body["git_env"] = {k: os.environ[k] for k in QUARANTINE_VARS if k in os.environ}
    request = urllib.request.Request(
        f"{api}/apps/{app}/git-builds",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=None) as response:
        known = response.headers.get("X-Status", "")
        status_path = response.headers.get("X-Status-Url", "")
        say()
        for raw in response:
            say(raw.decode("utf-8", "replace").rstrip("\r\n"))
    return known or outcome(api, token, status_path)


def outcome(api: str, token: str, status_path: str) -> str:
    """The final status of what the push started (a build, or a review app's setup)."""
    if not status_path.startswith("/"):
        return "unknown"
    request = urllib.request.Request(f"{api}{status_path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return str(json.loads(response.read()).get("status"))


if __name__ == "__main__":
    sys.exit(main())
