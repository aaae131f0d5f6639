"""Dyno faults: toxiproxy-style toxics on the router↔dyno byte streams, per dyno.

A fault is one small type with named attributes (the model is Shopify/toxiproxy's `toxics/`):

    latency     latency ms (± jitter ms) added to every chunk        → shows in `service=`
    timeout     data stops; the connection closes after `timeout` ms  → H12 (0 = hold forever),
                                                                          H13 when it closes first
    reset_peer  TCP RST `timeout` ms after the connection opens       → H13 (H18 if mid-response)
    slow_close  the close is passed on `delay` ms late                → `service=` of close-delimited
                                                                          responses grows
    bandwidth   at most `rate` KB/s                                    → `service=` grows with size
    limit_data  the connection closes after `bytes` bytes              → H18 (H13 when bytes=0)

Each fault acts on one direction (`stream`): "downstream" = dyno → router (the default, what
the router reads), "upstream" = router → dyno. `toxicity` is the chance (0..1) that a new
connection gets the fault.

How it plugs in: the daemon builds one `FaultRegistry` at start and hands the router a
`FaultConnector` (around the plain connector) when it builds it; nothing is swapped on a live
router, and the API only adds and removes faults in the registry. For a dyno with faults the
connector connects to the dyno for real (so a refused connect is still a real H21), then hands
the router one end of a fresh loopback TCP pair and relays bytes between the other end and the
dyno through the toxics. The router therefore sees real sockets doing real things (a RST is a
RST, a close is a FIN) and its own detection decides the H-code. Without faults for that dyno
the wrapped connector is used untouched.

Modules: `toxic` (the base type and its streams), one module per toxic (`latency`, `timeout`,
`reset_peer`, `slow_close`, `bandwidth`, `limit_data`), `registry` (the faults per app and
dyno, and `make_fault` for API input), `relay` (a faulted connection's bytes through its
toxics), `connector` (the seam the router connects through).
"""

from router.faults.connector import FaultConnector
from router.faults.registry import FAULT_TYPES, Entry, FaultRegistry, make_fault
from router.faults.toxic import DOWNSTREAM, STREAMS, UPSTREAM, Fault, FaultError

__all__ = [
    "DOWNSTREAM",
    "FAULT_TYPES",
    "STREAMS",
    "UPSTREAM",
    "Entry",
    "Fault",
    "FaultConnector",
    "FaultError",
    "FaultRegistry",
    "make_fault",
]
