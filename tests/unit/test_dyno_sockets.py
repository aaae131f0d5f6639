"""Which sockets listen on the host: asked of the kernel (sock_diag), the same answer as /proc,
without reading every other socket of the machine."""

from __future__ import annotations

import socket
import sys

import pytest

from dynos.runtimes import sockets

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sock_diag and /proc/net are Linux's")


def _from_proc() -> list[sockets.Listener]:
    found: list[sockets.Listener] = []
    for name in ("tcp", "tcp6"):
        with open(f"/proc/self/net/{name}") as f:
            found += sockets.parse_listeners(f.read())
    return found


def test_the_kernel_lists_the_listeners_proc_lists_with_their_inodes() -> None:
    with (
        socket.socket() as v4,
        socket.socket(socket.AF_INET6) as v6,
        socket.socket() as everywhere,
        socket.socket() as idle,
    ):
        v4.bind(("127.0.0.1", 0))
        v6.bind(("::1", 0))
        everywhere.bind(("0.0.0.0", 0))
        idle.bind(("127.0.0.1", 0))  # bound, not listening: not a listener
        for s in (v4, v6, everywhere):
            s.listen()
        asked = sockets.diag_listeners()
        assert asked is not None, "sock_diag refused on this machine"
        ours = {
            (v4.getsockname()[1], "127.0.0.1"),
            (v6.getsockname()[1], "::1"),
            (everywhere.getsockname()[1], "0.0.0.0"),
        }
        found = {(s.port, s.host): s for s in asked}
        assert ours <= found.keys()
        assert idle.getsockname()[1] not in {s.port for s in asked}
        assert not found[(everywhere.getsockname()[1], "0.0.0.0")].loopback
        assert found[(v6.getsockname()[1], "::1")].loopback
        # the same sockets, inodes and all, as /proc says (other processes may come and go
        # between the two reads: compare ours only)
        proc = {(s.port, s.host): s.inode for s in _from_proc()}
        assert {key: found[key].inode for key in ours} == {key: proc[key] for key in ours}
        assert sockets.namespace_listeners() is not None
