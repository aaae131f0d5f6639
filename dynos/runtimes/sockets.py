"""Which TCP sockets listen, read from /proc without sending a packet.

`/proc/<pid>/net/tcp` and `tcp6` list every socket of the network namespace `<pid>` lives in;
a listening socket has state 0A. The Docker runtime reads its container's table (a namespace
of its own) to see whether the dyno listens on $PORT where the published port can reach it;
the process runtime reads the host's table and finds which dyno owns a socket through the
`socket:[inode]` links in `/proc/<pid>/fd`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket: the address it is bound to (0.0.0.0 and :: mean "all")."""

    host: str
    port: int
    inode: int = 0

    @property
    def loopback(self) -> bool:
        address = ipaddress.ip_address(self.host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _address(hex_address: str) -> str:
    """/proc's address: 32-bit words in host byte order, hex."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def parse_listeners(table: str) -> list[Listener]:
    """The LISTEN rows of one /proc/net/tcp or tcp6 table."""
    found: list[Listener] = []
    for row in table.splitlines()[1:]:
        fields = row.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        try:
            found.append(Listener(_address(address), int(port, 16), int(fields[9])))
        except ValueError:
            continue
    return found


def namespace_listeners(pid: int | str = "self") -> list[Listener] | None:
    """Every listening TCP socket of `pid`'s network namespace; None when it cannot be read."""
    found: list[Listener] = []
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                found += parse_listeners(f.read())
            readable = True
        except OSError:
            continue
    return found if readable else None


def socket_inodes(pids: Iterable[int]) -> dict[int, int]:
    """inode -> pid for every socket the processes `pids` hold open."""
    owners: dict[int, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[int(target[8:-1])] = pid
    return owners
