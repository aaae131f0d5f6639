"""The classic consumer-group coordinator (JoinGroup / SyncGroup / Heartbeat / LeaveGroup).

States as in Kafka's GroupCoordinator: Empty → PreparingRebalance → CompletingRebalance →
Stable. A rebalance completes when every known member has rejoined, or when the rebalance
timeout runs out (stragglers are dropped). The first rebalance of an empty group waits
`initial_delay` so members starting together land in one generation. Each member has a
session timer (no polling): if no heartbeat, join, sync or commit arrives within its session
timeout it is removed and the others rebalance.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

MIN_SESSION_TIMEOUT_MS = 6_000  # group.min.session.timeout.ms
MAX_SESSION_TIMEOUT_MS = 1_800_000  # group.max.session.timeout.ms
MAX_PENDING_MEMBERS = 1_000  # ids handed out with MEMBER_ID_REQUIRED and not used yet

EMPTY = "Empty"
PREPARING = "PreparingRebalance"
COMPLETING = "CompletingRebalance"
STABLE = "Stable"


@dataclass
class JoinResult:
    error: ErrorCode
    generation: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)


@dataclass
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_future: asyncio.Future[JoinResult] | None = None
    sync_future: asyncio.Future[tuple[ErrorCode, bytes]] | None = None
    timer: asyncio.TimerHandle | None = None

    def metadata_for(self, protocol: str) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        return b""


@dataclass
class Group:
    name: str
    state: str = EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # ids handed out with MEMBER_ID_REQUIRED
    rebalance_timer: asyncio.TimerHandle | None = None
    initial_join: bool = False

    def describe(self) -> dict[str, object]:
        return {
            "group_id": self.name,
            "group_state": self.state,
            "protocol_type": self.protocol_type or "",
            "protocol_data": self.protocol or "",
            "generation": self.generation,
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata_for(self.protocol or ""),
                    "member_assignment": m.assignment,
                }
                for m in self.members.values()
            ],
        }


class GroupCoordinator:
    def __init__(self, initial_delay_s: float = 3.0):
        self.initial_delay_s = initial_delay_s
        self.groups: dict[str, Group] = {}
        self.rebalances = 0

    def group(self, name: str) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name)
        return group

    # ---------------------------------------------------------------- join
    async def join(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
    ) -> JoinResult:
        group = self.group(group_id)
        refused = self._check_join(group, member_id, session_timeout_ms, protocol_type, protocols)
        if refused is not None:
            return refused
        if not member_id:
            new_id = f"{client_id or 'consumer'}-{uuid.uuid4()}"
            if require_known_member_id:
                return self._hand_out_member_id(group, new_id, session_timeout_ms)
            member_id = new_id
        elif member_id not in group.members and member_id not in group.pending:
            return JoinResult(ErrorCode.unknown_member_id, member_id=member_id)
        member, changed = self._upsert_member(
            group,
            Member(
                member_id,
                group_instance_id,
                client_id,
                client_host,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocol_type,
                protocols,
            ),
        )
        if not changed and group.state in (STABLE, COMPLETING) and member_id != group.leader:
            self._touch(group, member)
            return self._join_result(group, member)
        fut: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        member.join_future = fut
        self._cancel_timer(member)
        if group.state != PREPARING:
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join(group)
        return await fut

    def _check_join(
        self,
        group: Group,
        member_id: str,
        session_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
    ) -> JoinResult | None:
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            return JoinResult(ErrorCode.invalid_session_timeout, member_id=member_id)
        if not protocols or not protocol_type:
            return JoinResult(ErrorCode.inconsistent_group_protocol, member_id=member_id)
        if group.members and (
            protocol_type != group.protocol_type
            or not self._common_protocols(group, protocols, exclude=member_id)
        ):
            return JoinResult(ErrorCode.inconsistent_group_protocol, member_id=member_id)
        return None

    def _hand_out_member_id(self, group: Group, new_id: str, session_timeout_ms: int) -> JoinResult:
        """KIP-394: a new member first gets its id with MEMBER_ID_REQUIRED, then joins with it."""
        if len(group.pending) >= MAX_PENDING_MEMBERS:
            return JoinResult(ErrorCode.group_max_size_reached, member_id="")
        group.pending.add(new_id)
        # forget the id if the client never comes back with it
        asyncio.get_running_loop().call_later(session_timeout_ms / 1000, group.pending.discard, new_id)
        return JoinResult(ErrorCode.member_id_required, member_id=new_id)

    def _upsert_member(self, group: Group, joining: Member) -> tuple[Member, bool]:
        """The member in the group (added, or updated from `joining`); True when its protocols changed."""
        member = group.members.get(joining.member_id)
        if member is None:
            group.pending.discard(joining.member_id)
            group.members[joining.member_id] = joining
            if not group.protocol_type:
                group.protocol_type = joining.protocol_type
            return joining, True
        changed = member.protocols != joining.protocols
        member.protocols = joining.protocols
        member.session_timeout_ms = joining.session_timeout_ms
        member.rebalance_timeout_ms = joining.rebalance_timeout_ms
        if member.join_future is not None and not member.join_future.done():
            # a retried join replaces the old one; the old request gets a rebalance error
            member.join_future.set_result(
                JoinResult(ErrorCode.rebalance_in_progress, member_id=member.member_id)
            )
        return member, changed

    def _common_protocols(self, group: Group, protocols: list[tuple[str, bytes]], exclude: str) -> set[str]:
        names = {name for name, _ in protocols}
        for mid, m in group.members.items():
            if mid != exclude:
                names &= {name for name, _ in m.protocols}
        return names

    def _prepare_rebalance(self, group: Group) -> None:
        initial = group.state == EMPTY
        group.state = PREPARING
        self.rebalances += 1
        for m in group.members.values():
            if m.sync_future is not None and not m.sync_future.done():
                m.sync_future.set_result((ErrorCode.rebalance_in_progress, b""))
            m.sync_future = None
        loop = asyncio.get_running_loop()
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
        timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0) / 1000
        if initial and self.initial_delay_s > 0:
            group.initial_join = True
            delay = min(self.initial_delay_s, timeout) if timeout > 0 else self.initial_delay_s
            group.rebalance_timer = loop.call_later(delay, self._initial_delay_done, group)
        else:
            group.initial_join = False
            group.rebalance_timer = loop.call_later(max(timeout, 0.001), self._complete_join, group)
            self._maybe_complete_join(group)

    def _initial_delay_done(self, group: Group) -> None:
        group.initial_join = False
        group.rebalance_timer = None
        if group.state != PREPARING:
            return
        if self._all_joined(group):
            self._complete_join(group)
        else:
            timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0) / 1000
            group.rebalance_timer = asyncio.get_running_loop().call_later(
                max(timeout, 0.001), self._complete_join, group
            )

    @staticmethod
    def _all_joined(group: Group) -> bool:
        return all(m.join_future is not None and not m.join_future.done() for m in group.members.values())

    def _maybe_complete_join(self, group: Group) -> None:
        if group.state == PREPARING and not group.initial_join and self._all_joined(group):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        if group.state != PREPARING:
            return
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
            group.rebalance_timer = None
        group.initial_join = False
        for mid in [mid for mid, m in group.members.items() if m.join_future is None or m.join_future.done()]:
            self._remove(group, mid)
        group.generation += 1
        if not group.members:
            group.state = EMPTY
            group.protocol = group.protocol_type = group.leader = None
            return
        group.protocol = self._elect_protocol(group)
        group.protocol_type = next(iter(group.members.values())).protocol_type
        if group.leader not in group.members:
            group.leader = next(iter(group.members))
        group.state = COMPLETING
        for m in group.members.values():
            result = self._join_result(group, m)
            fut, m.join_future = m.join_future, None
            if fut is not None and not fut.done():
                fut.set_result(result)
            self._touch(group, m)

    @staticmethod
    def _elect_protocol(group: Group) -> str | None:
        """Each member votes for its first protocol that every member supports (Kafka's rule)."""
        candidates: set[str] | None = None
        for m in group.members.values():
            names = {name for name, _ in m.protocols}
            candidates = names if candidates is None else candidates & names
        votes: Counter[str] = Counter()
        for m in group.members.values():
            first = next((name for name, _ in m.protocols if candidates and name in candidates), None)
            if first is not None:
                votes[first] += 1
        return votes.most_common(1)[0][0] if votes else None

    def _join_result(self, group: Group, member: Member) -> JoinResult:
        members = []
        if member.member_id == group.leader:
            members = [
                (m.member_id, m.group_instance_id, m.metadata_for(group.protocol or ""))
                for m in group.members.values()
            ]
        return JoinResult(
            ErrorCode.none,
            group.generation,
            group.protocol_type,
            group.protocol,
            group.leader or "",
            member.member_id,
            members,
        )

    # ---------------------------------------------------------------- sync
    async def sync(
        self, group_id: str, generation: int, member_id: str, assignments: dict[str, bytes]
    ) -> tuple[ErrorCode, bytes]:
        group = self.groups.get(group_id)
        if group is None or member_id not in group.members:
            return ErrorCode.unknown_member_id, b""
        member = group.members[member_id]
        if generation != group.generation:
            return ErrorCode.illegal_generation, b""
        if group.state == PREPARING:
            return ErrorCode.rebalance_in_progress, b""
        self._touch(group, member)
        if group.state == STABLE:
            return ErrorCode.none, member.assignment
        fut: asyncio.Future[tuple[ErrorCode, bytes]] = asyncio.get_running_loop().create_future()
        member.sync_future = fut
        if member_id == group.leader:
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            group.state = STABLE
            for m in group.members.values():
                if m.sync_future is not None and not m.sync_future.done():
                    m.sync_future.set_result((ErrorCode.none, m.assignment))
                m.sync_future = None
        return await fut

    # ---------------------------------------------------------- heartbeat etc
    def heartbeat(self, group_id: str, generation: int, member_id: str) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is None or member_id not in group.members:
            return ErrorCode.unknown_member_id
        member = group.members[member_id]
        if generation != group.generation:
            return ErrorCode.illegal_generation
        self._touch(group, member)
        if group.state == PREPARING:
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    def leave(self, group_id: str, member_ids: list[str]) -> dict[str, ErrorCode]:
        group = self.groups.get(group_id)
        results: dict[str, ErrorCode] = {}
        for mid in member_ids:
            if group is None or mid not in group.members:
                if group is not None and mid in group.pending:
                    group.pending.discard(mid)
                    results[mid] = ErrorCode.none
                else:
                    results[mid] = ErrorCode.unknown_member_id
                continue
            self._remove(group, mid)
            results[mid] = ErrorCode.none
        if group is not None and any(e == ErrorCode.none for e in results.values()):
            self._after_departure(group)
        return results

    def check_commit(self, group_id: str, generation: int, member_id: str) -> ErrorCode:
        group = self.groups.get(group_id)
        if generation < 0 and not member_id:
            if group is not None and group.members:
                return ErrorCode.unknown_member_id if group.state != EMPTY else ErrorCode.none
            return ErrorCode.none
        if group is None or member_id not in group.members:
            return ErrorCode.unknown_member_id
        if generation != group.generation:
            return ErrorCode.illegal_generation
        if group.state == COMPLETING:
            return ErrorCode.rebalance_in_progress
        self._touch(group, group.members[member_id])
        return ErrorCode.none

    # ------------------------------------------------------------- members
    def _touch(self, group: Group, member: Member) -> None:
        self._cancel_timer(member)
        member.timer = asyncio.get_running_loop().call_later(
            max(member.session_timeout_ms, 1) / 1000, self._expire, group, member.member_id
        )

    @staticmethod
    def _cancel_timer(member: Member) -> None:
        if member.timer is not None:
            member.timer.cancel()
            member.timer = None

    def _expire(self, group: Group, member_id: str) -> None:
        member = group.members.get(member_id)
        if member is None or (member.join_future is not None and not member.join_future.done()):
            return
        self._remove(group, member_id)
        self._after_departure(group)

    def _remove(self, group: Group, member_id: str) -> None:
        member = group.members.pop(member_id, None)
        if member is None:
            return
        self._cancel_timer(member)
        if member.join_future is not None and not member.join_future.done():
            member.join_future.set_result(JoinResult(ErrorCode.unknown_member_id, member_id=member_id))
        if member.sync_future is not None and not member.sync_future.done():
            member.sync_future.set_result((ErrorCode.unknown_member_id, b""))
        if group.leader == member_id:
            group.leader = None

    def _after_departure(self, group: Group) -> None:
        if group.state == PREPARING:
            self._maybe_complete_join(group)
            if not group.members:
                self._complete_join(group)
        elif group.members:
            self._prepare_rebalance(group)
        else:
            group.state = EMPTY
            group.generation += 1
            group.protocol = group.protocol_type = group.leader = None

    def delete(self, group_id: str) -> None:
        group = self.groups.pop(group_id, None)
        if group is None:
            return
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
        for mid in list(group.members):
            self._remove(group, mid)

    def active_members(self, group_id: str) -> int:
        group = self.groups.get(group_id)
        return len(group.members) if group else 0

    def close(self) -> None:
        for name in list(self.groups):
            self.delete(name)
