"""Router processes: the daemon's router as a fleet of processes sharing the router ports.

Heroku's routers are processes apart from the control plane, each picking dynos on its own;
here `PAAS_ROUTER_WORKERS` processes (router.fleet.worker) listen on the router port and the
TLS port with SO_REUSEPORT, so a daemon busy with builds, dataclips or Kafka does not stall
routing. Modules: `wire` (frames and the shapes sent), `sockets` (the shared ports), `outbox`
(a process's bounded, batched way back), `worker` (a process's main), `process` (the daemon's
handle on one process), `merge` (their figures as one view), `fleet` (RouterFleet: start,
feed, restart, stop).
"""

from router.fleet.fleet import RouterFleet

__all__ = ["RouterFleet"]
