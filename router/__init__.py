"""The data plane: Heroku's HTTP router (see router.server.Router)."""

from paas.accel import activate

# the mypyc-compiled hot path, when built from these very sources (see paas.accel)
__path__ = activate(__name__, __path__)

from router.metrics import RequestRecord
from router.server import Router
from router.table import AppRoute, Backend, RouteTable

__all__ = ["AppRoute", "Backend", "RequestRecord", "RouteTable", "Router"]
