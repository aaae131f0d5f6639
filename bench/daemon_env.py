"""The environment of a throwaway `paas daemon` started by a bench.

Its own PAAS_HOME, every port left to the kernel (0: a bench runs beside the user's daemon and
beside other benches, and a fixed default port would clash), the process runtime, and no
PAAS_API_URL pointing the CLI at another daemon. The port variables come from Settings, so a
port added there is covered here.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.config import Settings

PORT_VARIABLES = tuple(sorted(var for var, name in Settings.ENV_NAMES.items() if name.endswith("_port")))


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PAAS_API_URL", None)
    env.update(dict.fromkeys(PORT_VARIABLES, "0"))
    env.update(PAAS_HOME=str(home), PAAS_RUNTIME="process")
    env.update(extra)
    return env
