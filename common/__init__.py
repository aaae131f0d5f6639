"""The shared leaf: what every layer of paas uses and nothing of paas above it.

Settings (`common.config`), the event bus (`common.events`), the errors clients see
(`common.errors`), the log hub (`common.loghub`, `common.logtail`), the local certificate
authority (`common.ca`) and the compiled-hot-path loader (`common.accel`). Modules here import
nothing from `paas`, `router`, `dynos` or `tui` (an import-linter contract checks it).
"""

from common.accel import activate

# the event bus and log hub may run compiled (common.accel)
__path__ = activate(__name__, __path__)
