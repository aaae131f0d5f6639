"""Which TCP sockets listen, read from /proc without sending a packet.

`/proc/<pid>/net/tcp` and `tcp6` list every socket of the network namespace `<pid>` lives in;
a listening socket has state 0A. The Docker runtime reads its container's table (a namespace
of its own) to see whether the dyno listens on $PORT where the published port can reach it;
the process runtime asks for the host's and finds which dyno owns a socket through the
`socket:[inode]` links in `/proc/<pid>/fd`.

The host's table is asked of the kernel with sock_diag over netlink (what `ss -lt` does), for
LISTEN sockets only: /proc/net/tcp lists every socket of the machine, and after a load test it
holds tens of thousands of TIME_WAIT rows that the kernel formats and we would parse, every
second, on the daemon's loop (measured: the in-daemon router's p99 stalled at ~60-90 ms).
/proc stays the fallback where netlink is refused.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import struct
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


# sock_diag (linux/sock_diag.h, linux/inet_diag.h, linux/netlink.h)
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN = 10
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2: family, protocol, ext, pad, states, sockid
_MSG_MIN = 72  # inet_diag_msg: 4 bytes, sockid (48), expires, rqueue, wqueue, uid, inode
_sequence = itertools.count(1)


def diag_listeners() -> list[Listener] | None:
    """Every listening TCP socket of this process's network namespace, from the kernel's
    sock_diag (only LISTEN rows come back); None when netlink is not available."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError):  # not Linux, or refused
        return None
    found: list[Listener] = []
    try:
        with sock:
            sock.settimeout(2.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                request = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)
                seq = next(_sequence)
                flags = NLM_F_REQUEST | NLM_F_DUMP
                sock.send(
                    _NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, flags, seq, 0)
                    + request
                )
                if not _read_dump(sock, seq, found):
                    return None
    except OSError:
        return None
    return found


def _read_dump(sock: socket.socket, seq: int, found: list[Listener]) -> bool:
    """Read one dump's answers into `found` until NLMSG_DONE; False on an error answer."""
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, kind, _, answer_seq, _ = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                return False
            if answer_seq == seq:
                if kind == NLMSG_DONE:
                    return True
                if kind == NLMSG_ERROR:
                    return False
                if kind == SOCK_DIAG_BY_FAMILY and length >= _NLMSGHDR.size + _MSG_MIN:
                    found.append(_diag_listener(data, offset + _NLMSGHDR.size))
            offset += (length + 3) & ~3  # NLMSG_ALIGN
        if not data:
            return False


def _diag_listener(data: bytes, at: int) -> Listener:
    family = data[at]
    (port,) = struct.unpack_from("!H", data, at + 4)  # idiag_sport, big-endian
    raw = data[at + 8 : at + 24]  # idiag_src: 4 bytes used for IPv4
    (inode,) = struct.unpack_from("=I", data, at + 68)
    if family == socket.AF_INET:
        return Listener(socket.inet_ntop(socket.AF_INET, raw[:4]), port, inode)
    return Listener(socket.inet_ntop(socket.AF_INET6, raw), port, inode)


def namespace_listeners(pid: int | str = "self") -> list[Listener] | None:
    """Every listening TCP socket of `pid`'s network namespace; None when it cannot be read."""
    if pid == "self" or pid == os.getpid():
        asked = diag_listeners()
        if asked is not None:
            return asked
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
