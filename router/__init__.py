"""The data plane: Heroku's HTTP router (see router.server.Router)."""

from router.metrics import RequestRecord
from router.server import Router
from router.table import AppRoute, Backend, RouteTable

__all__ = ["AppRoute", "Backend", "RequestRecord", "RouteTable", "Router"]
