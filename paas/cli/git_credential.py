"""The git credential helper `paas git:remote` installs: answers `get` with the local API token.

Standard library only and run by its path (`python -S`), so git pays a bare interpreter start
(tens of milliseconds), not the whole CLI's imports, on every push. The token is read fresh
from PAAS_API_TOKEN or `$PAAS_HOME/token` each time, so it never goes stale in git's config.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def local_token() -> str:
    token = os.environ.get("PAAS_API_TOKEN")
    if token:
        return token
    home = Path(os.path.expanduser(os.environ.get("PAAS_HOME") or "~/.local/share/paas"))
    try:
        return (home / "token").read_text().strip()
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    operation = argv[1] if len(argv) > 1 else "get"
    sys.stdin.read()  # the attributes git describes the request with; the answer is the same
    if operation != "get":
        return 0  # store / erase: nothing to remember, the token file is the source of truth
    token = local_token()
    if token:  # no answer at all lets git report the authentication failure itself
        sys.stdout.write(f"username=paas\npassword={token}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
