"""paas: a local Heroku-style platform. The per-request hot path may run compiled (paas.accel)."""

from paas.accel import activate

__path__ = activate(__name__, __path__)
