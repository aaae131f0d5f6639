from paas.accel import activate

__path__ = activate(__name__, __path__)  # paas.dataclips.platform may run compiled (paas.accel)
