from common.accel import activate

__path__ = activate(__name__, __path__)  # paas.dataclips.platform may run compiled (common.accel)
