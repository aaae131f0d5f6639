"""The router ports shared by router processes: one SO_REUSEPORT listening socket per process.

The daemon holds a *bound, not listening* socket on each port for its whole life: it keeps the
port ours between a process's death and its replacement, and takes no connections (the kernel
spreads connections over listening sockets only). Before that, a plain bind checks nobody else
uses the port (a socket without SO_REUSEPORT cannot join our group, and we cannot join theirs).
"""

from __future__ import annotations

import socket

BACKLOG = 2048


def _reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind `host:port` (0: a free port) for router processes; raises OSError when in use."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))  # EADDRINUSE as a plain bind would say
        port = probe.getsockname()[1]
    finally:
        probe.close()
    return _reuseport_socket(host, port)


def listener(host: str, port: int) -> socket.socket:
    """One router process's listening socket on the shared port."""
    sock = _reuseport_socket(host, port)
    try:
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
