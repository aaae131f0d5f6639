"""The data plane: Heroku's HTTP router (see router.server.Router)."""

from common.accel import activate, is_compiled

# the mypyc-compiled hot path, when built from these very sources (see common.accel)
__path__ = activate(__name__, __path__)

from router.metrics import RequestRecord
from router.server import Router
from router.table import AppRoute, Backend, RouteTable

__all__ = ["AppRoute", "Backend", "RequestRecord", "RouteTable", "Router", "runs_compiled"]


def runs_compiled() -> bool:
    """Whether the router's hot path in this process is the mypyc build."""
    from router import exchange

    return is_compiled(exchange)
