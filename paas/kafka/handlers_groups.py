"""The consumer-group protocol (FindCoordinator, Join/Sync/Heartbeat/Leave, offsets) and group admin."""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from . import acls as A
from . import protocol as P
from .handlers_data import TRANSACTIONS_REFUSED
from .session import HOST, NODE_ID, UNKNOWN_OPS, BrokerCore, Handler, Reply, Session

log = logging.getLogger("paas.kafka")
E = ErrorCode
MAX_METADATA_CHARS = 4096  # offset.metadata.max.bytes


class GroupHandlers(BrokerCore):
    def group_handlers(self) -> dict[int, Handler]:
        return {
            P.FIND_COORDINATOR: self.find_coordinator,
            P.JOIN_GROUP: self.join_group,
            P.HEARTBEAT: self.heartbeat,
            P.LEAVE_GROUP: self.leave_group,
            P.SYNC_GROUP: self.sync_group,
            P.OFFSET_COMMIT: self.offset_commit,
            P.OFFSET_FETCH: self.offset_fetch,
            P.OFFSET_DELETE: self.offset_delete,
            P.DESCRIBE_GROUPS: self.describe_groups,
            P.LIST_GROUPS: self.list_groups,
            P.DELETE_GROUPS: self.delete_groups,
        }

    def group_allowed(self, s: Session, operation: int, group: str) -> bool:
        allowed = self.allowed(s, operation, A.GROUP, group)
        if not allowed and operation == A.READ and self.allowed(s, A.DESCRIBE, A.GROUP, group):
            log.info(
                "kafka: %s may not join group %r (no READ ACL): on Basic plans create it first "
                "with `paas kafka:consumer-groups:create`",
                s.principal.name,
                group,
            )
        return allowed

    def group_exists(self, group: str) -> bool:
        return group in self.coordinator.groups or bool(self.offsets.group_offsets(group))

    async def find_coordinator(self, s: Session, req: P.Request) -> Reply:
        key, key_type = req.body.key, getattr(req.body, "key_type", 0)
        if key_type != 0:
            err, msg = E.transactional_id_authorization_failed, TRANSACTIONS_REFUSED
        elif not self.group_allowed(s, A.DESCRIBE, key):
            err, msg = E.group_authorization_failed, f"not authorized to access group {key!r}"
        else:
            err, msg = E.none, None
        ok = err == E.none
        return self.respond(
            req,
            {
                "error_code": err,
                "error_message": msg,
                "node_id": NODE_ID if ok else -1,
                "host": HOST if ok else "",
                "port": s.port if ok else -1,
            },
        )

    async def join_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        old = req.api_version < 7
        if not self.group_allowed(s, A.READ, b.group_id):
            values = {
                "error_code": E.group_authorization_failed,
                "generation_id": -1,
                "member_id": b.member_id,
            }
            return self.respond(req, {**values, "protocol_name": "" if old else None})
        session_ms = P.ms(b.session_timeout)
        result = await self.coordinator.join(
            b.group_id,
            b.member_id,
            getattr(b, "group_instance_id", None),
            "" if req.client_id is None else req.client_id,
            s.peer,
            session_ms,
            P.ms(getattr(b, "rebalance_timeout", None), session_ms),
            b.protocol_type,
            [(p.name, p.metadata) for p in b.protocols],
            require_known_member_id=req.api_version >= 4,
        )
        members = [
            {"member_id": m, "group_instance_id": g, "metadata": meta} for m, g, meta in result.members
        ]
        return self.respond(
            req,
            {
                "error_code": result.error,
                "generation_id": result.generation,
                "protocol_type": result.protocol_type,
                "protocol_name": (result.protocol_name or "") if old else result.protocol_name,
                "leader": result.leader,
                "member_id": result.member_id,
                "members": members,
            },
        )

    async def sync_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not self.group_allowed(s, A.READ, b.group_id):
            return self.respond(req, {"error_code": E.group_authorization_failed, "assignment": b""})
        err, assignment = await self.coordinator.sync(
            b.group_id, b.generation_id, b.member_id, {a.member_id: a.assignment for a in b.assignments}
        )
        group = self.coordinator.groups.get(b.group_id)
        return self.respond(
            req,
            {
                "error_code": err,
                "assignment": assignment,
                "protocol_type": group.protocol_type if group else None,
                "protocol_name": group.protocol if group else None,
            },
        )

    async def heartbeat(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not self.group_allowed(s, A.READ, b.group_id):
            return self.respond(req, {"error_code": E.group_authorization_failed})
        return self.respond(
            req, {"error_code": self.coordinator.heartbeat(b.group_id, b.generation_id, b.member_id)}
        )

    async def leave_group(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not self.group_allowed(s, A.READ, b.group_id):
            return self.respond(req, {"error_code": E.group_authorization_failed})
        if req.api_version < 3:
            results = self.coordinator.leave(b.group_id, [b.member_id])
            return self.respond(req, {"error_code": results[b.member_id]})
        results = self.coordinator.leave(b.group_id, [m.member_id for m in b.members])
        members = [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "error_code": results[m.member_id],
            }
            for m in b.members
        ]
        return self.respond(req, {"error_code": E.none, "members": members})

    # ---------------------------------------------------------------- offsets
    async def offset_commit(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not self.group_allowed(s, A.READ, b.group_id):
            group_err = E.group_authorization_failed
        else:
            generation = getattr(b, "generation_id_or_member_epoch", getattr(b, "generation_id", -1))
            group_err = self.coordinator.check_commit(b.group_id, generation, b.member_id)
        topics = []
        to_commit = []
        for t in b.topics:
            parts = []
            for p in t.partitions:
                err = group_err if group_err != E.none else self._commit_error(s, t.name, p)
                if err == E.none:
                    to_commit.append((t.name, p.partition_index, p.committed_offset, p.committed_metadata))
                parts.append({"partition_index": p.partition_index, "error_code": err})
            topics.append({"name": t.name, "partitions": parts})
        if to_commit:
            self.offsets.commit(b.group_id, to_commit)
        return self.respond(req, {"topics": topics})

    def _commit_error(self, s: Session, topic: str, p: Any) -> ErrorCode:
        err = self.topic_error(s, A.READ, topic, p.partition_index)
        if (
            err == E.none
            and p.committed_metadata is not None
            and len(p.committed_metadata) > MAX_METADATA_CHARS
        ):
            return E.offset_metadata_too_large
        return err

    async def offset_fetch(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        allowed = self.group_allowed(s, A.DESCRIBE, b.group_id)
        group_err = E.none if allowed else E.group_authorization_failed
        committed = self.offsets.group_offsets(b.group_id) if allowed else {}
        wanted: list[tuple[str, list[int]]]
        if b.topics is None:
            by_topic: dict[str, list[int]] = {}
            for topic, partition in sorted(committed):
                if self.allowed(s, A.DESCRIBE, A.TOPIC, topic):
                    by_topic.setdefault(topic, []).append(partition)
            wanted = list(by_topic.items())
        else:
            wanted = [(t.name, list(t.partition_indexes)) for t in b.topics]
        topics = []
        for name, partitions in wanted:
            topic_ok = self.allowed(s, A.DESCRIBE, A.TOPIC, name)
            parts = []
            for p in partitions:
                err = (
                    group_err
                    if group_err != E.none
                    else (E.none if topic_ok else E.topic_authorization_failed)
                )
                c = committed.get((name, p)) if err == E.none else None
                parts.append(
                    {
                        "partition_index": p,
                        "committed_offset": c.offset if c else -1,
                        "committed_leader_epoch": -1,
                        "metadata": (c.metadata or "") if c else "",
                        "error_code": err,
                    }
                )
            topics.append({"name": name, "partitions": parts})
        if req.api_version >= 2 and group_err != E.none:
            topics = []
        return self.respond(req, {"topics": topics, "error_code": group_err})

    async def offset_delete(self, s: Session, req: P.Request) -> Reply:
        b = req.body
        if not self.group_allowed(s, A.DELETE, b.group_id):
            return self.respond(req, {"error_code": E.group_authorization_failed, "topics": []})
        if not self.group_exists(b.group_id):
            return self.respond(req, {"error_code": E.group_id_not_found, "topics": []})
        live = self.coordinator.active_members(b.group_id) > 0
        topics, doomed = [], []
        for t in b.topics:
            topic_err = self.topic_error(s, A.READ, t.name)
            parts = []
            for p in t.partitions:
                err = topic_err if topic_err != E.none else (E.group_subscribed_to_topic if live else E.none)
                if err == E.none:
                    doomed.append((t.name, p.partition_index))
                parts.append({"partition_index": p.partition_index, "error_code": err})
            topics.append({"name": t.name, "partitions": parts})
        if doomed:
            self.offsets.delete_offsets(b.group_id, doomed)
        return self.respond(req, {"error_code": E.none, "topics": topics})

    # ------------------------------------------------------------- group admin
    async def describe_groups(self, s: Session, req: P.Request) -> Reply:
        with_ops = bool(getattr(req.body, "include_authorized_operations", False))
        groups = [self._describe_group(s, gid, with_ops) for gid in req.body.groups]
        return self.respond(req, {"groups": groups})

    def _describe_group(self, s: Session, gid: str, with_ops: bool) -> dict[str, Any]:
        if not self.group_allowed(s, A.DESCRIBE, gid):
            return {
                "error_code": E.group_authorization_failed,
                "group_id": gid,
                "group_state": "",
                "authorized_operations": UNKNOWN_OPS,
            }
        ops = (
            self.authorizer.authorized_operations(s.principal.name, A.GROUP, gid) if with_ops else UNKNOWN_OPS
        )
        g = self.coordinator.groups.get(gid)
        if g is None:
            state = "Empty" if self.group_exists(gid) else "Dead"
            return {"error_code": E.none, "group_id": gid, "group_state": state, "authorized_operations": ops}
        info = g.describe()
        info.pop("generation")
        info["error_code"] = E.none
        info["authorized_operations"] = ops
        return info

    def known_groups(self) -> set[str]:
        return set(self.coordinator.groups) | set(self.offsets.offsets) | set(self.registry.groups)

    async def list_groups(self, s: Session, req: P.Request) -> Reply:
        wanted_states = set(getattr(req.body, "states_filter", ()) or ())
        everything = self.cluster_allowed(s, A.DESCRIBE)
        listed = []
        for name in sorted(self.known_groups()):
            if not everything and not self.allowed(s, A.DESCRIBE, A.GROUP, name):
                continue
            g = self.coordinator.groups.get(name)
            state = g.state if g is not None else "Empty"
            if wanted_states and state not in wanted_states:
                continue
            listed.append(
                {
                    "group_id": name,
                    "protocol_type": (g.protocol_type if g else None) or "consumer",
                    "group_state": state,
                }
            )
        return self.respond(req, {"error_code": E.none, "groups": listed})

    async def delete_groups(self, s: Session, req: P.Request) -> Reply:
        results = [
            {"group_id": gid, "error_code": self._delete_group(s, gid)} for gid in req.body.groups_names
        ]
        return self.respond(req, {"results": results})

    def _delete_group(self, s: Session, gid: str) -> ErrorCode:
        if not self.group_allowed(s, A.DELETE, gid):
            return E.group_authorization_failed
        if not self.group_exists(gid):
            return E.group_id_not_found
        if self.coordinator.active_members(gid):
            return E.non_empty_group
        self.coordinator.delete(gid)
        self.offsets.delete_group(gid)
        log.info("kafka: group %s deleted by %s", gid, s.principal.name)
        return E.none
