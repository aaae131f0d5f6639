from paas.accel import activate

__path__ = activate(__name__, __path__)  # paas.logs.hub may run compiled (paas.accel)
