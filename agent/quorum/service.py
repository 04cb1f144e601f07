"""Quorum membership over the network: formation, commit, lifecycle, replacement, dissolution.

The founder is the node holding layer 0 (it will be the pipeline's
initiator). Letting only layer-0 holders found keeps two nodes from
proposing overlapping quorums to the same members at once; several layer-0
holders race, and a member accepts one proposal at a time (the loser's
proposal is refused as `busy`, and it retries without that member).

Protocol: the founder runs `form_quorum` on its view, sends the signed
proposal to every other member (all must accept within the stage timeout),
then a signed commit with the step to start at; each member joins then.
The founder owns the lifecycle state machine (heartbeats from its peer
table, batch counts from its steps, a Tick every tick_interval_s): a
degraded member is replaced by a free holder of the same layers
(`find_replacement`), committed to everyone under the same quorum id;
a lost member with no replacement dissolves the quorum. A member whose
founder goes silent leaves on its own. Every commit makes each stage drop
gradients of an unfinished step, so a retried step is exact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

from coordinator_free.constants import TIER_NAMES
from coordinator_free.network_view import LayerRange, NetworkView, NodeView
from coordinator_free.peer_health import PeerState
from coordinator_free.quorum_events import (
    BatchesCompleted,
    Heartbeat,
    MemberReplaced,
    ProposalAccepted,
    Tick,
)
from coordinator_free.quorum_formation import (
    FormationFailure,
    QuorumMember,
    QuorumProposal,
    form_quorum,
)
from coordinator_free.quorum_lifecycle import apply_event, start_quorum
from coordinator_free.quorum_replacement import find_replacement
from coordinator_free.quorum_state import LifecycleConfig, QuorumPhase, QuorumState
from coordinator_free.types import NodeId

from ..network.client import PeerRequestError
from ..network.config import NetworkConfig
from ..network.server import SignedReply, SignedRequest, signed_route
from ..network.service import PeerService
from ..pipeline.stage import PipelineStage
from .record import (
    COMMIT_PATH,
    DISSOLVE_PATH,
    PROPOSE_PATH,
    QUORUM_ACCEPT,
    QUORUM_COMMIT,
    QUORUM_COMMITTED,
    QUORUM_DISSOLVE,
    QUORUM_DISSOLVED,
    QUORUM_PROPOSE,
    QuorumRecord,
    QuorumRefusal,
    QuorumRefusalCode,
    RecordMember,
)
from .view import build_network_view

log = logging.getLogger(__name__)


class QuorumService:
    def __init__(self, *, stage: PipelineStage, network: NetworkConfig, peers: Callable[[], PeerService | None],
                 own_view: Callable[[], NodeView | None], clock: Callable[[], float] = time.time) -> None:
        self.stage = stage
        self.config = stage.config
        self._peers = peers
        self._own_view = own_view
        self._clock = clock
        self.lifecycle_config = LifecycleConfig(
            heartbeat_interval_s=network.heartbeat_interval_s,
            degraded_after_missed_heartbeats=network.degraded_after_missed_heartbeats,
            offline_after_s=network.offline_after_s, proposal_timeout_s=self.config.proposal_timeout_s)
        self.record: QuorumRecord | None = None
        self.lifecycle: QuorumState | None = None  # founder only
        self.reason = "not started"
        self._pending: dict[str, tuple[QuorumRecord, float]] = {}
        self._refused: set[str] = set()

    @property
    def quorum_id(self) -> str | None:
        return self.record.quorum_id if self.record else None

    def routes(self) -> list[web.RouteDef]:
        limit = 256 * 1024
        return [signed_route(PROPOSE_PATH, message_type=QUORUM_PROPOSE, body_limit_bytes=limit, handler=self.handle_propose),
                signed_route(COMMIT_PATH, message_type=QUORUM_COMMIT, body_limit_bytes=limit, handler=self.handle_commit),
                signed_route(DISSOLVE_PATH, message_type=QUORUM_DISSOLVE, body_limit_bytes=limit,
                             handler=self.handle_dissolve)]

    # ------------------------------------------------------------ member side
    async def handle_propose(self, request: SignedRequest) -> SignedReply:
        record = QuorumRecord.from_payload(request.payload)
        me = self._check_member(record, request.sender)
        if self.record is not None and self.record.quorum_id != record.quorum_id:
            raise QuorumRefusal(QuorumRefusalCode.BUSY, f"already in quorum {self.record.quorum_id[:16]}…")
        runtime = self.stage.runtime
        if runtime is None:  # --mode auto: this node is not running as a stage right now (SOLO, ASYNC)
            raise QuorumRefusal(QuorumRefusalCode.BUSY, "not running as a pipeline stage now; it switches when "
                                "its own mode selection sees the quorum, so propose again shortly")
        if (me.layer_start, me.layer_stop) != (runtime.spec.layer_start, runtime.spec.layer_end):
            held = (runtime.spec.layer_start, runtime.spec.layer_end)
            raise QuorumRefusal(QuorumRefusalCode.WRONG_STAGE,
                                f"offered layers [{me.layer_start}, {me.layer_stop}), this node runs {held}")
        now_s = self._clock()
        self._pending = {k: v for k, v in self._pending.items() if v[1] > now_s}
        self._pending[record.quorum_id] = (record, now_s + self.config.proposal_timeout_s)
        return SignedReply(QUORUM_ACCEPT, {"quorum_id": record.quorum_id})

    async def handle_commit(self, request: SignedRequest) -> SignedReply:
        record = QuorumRecord.from_payload(request.payload)
        self._check_member(record, request.sender)
        pending = self._pending.pop(record.quorum_id, None)
        recommit = self.record is not None and self.record.quorum_id == record.quorum_id
        if not recommit and (pending is None or pending[1] < self._clock()):
            raise QuorumRefusal(QuorumRefusalCode.NO_PROPOSAL, f"no open proposal {record.quorum_id[:16]}…; propose first")
        self._join(record)
        return SignedReply(QUORUM_COMMITTED, {"quorum_id": record.quorum_id, "step": self.stage.step})

    async def handle_dissolve(self, request: SignedRequest) -> SignedReply:
        quorum_id = request.payload.get("quorum_id")
        if self.record is not None and quorum_id == self.record.quorum_id and request.sender == self.record.founder:
            self._leave(f"quorum dissolved by its founder: {request.payload.get('reason', '')}")
        return SignedReply(QUORUM_DISSOLVED, {"quorum_id": quorum_id})

    def _check_member(self, record: QuorumRecord, sender: str) -> RecordMember:
        own = self._own_view()
        position = record.position_of(own.node_id) if own else None
        if position is None or sender != record.founder or record.position_of(sender) is None:
            raise QuorumRefusal(QuorumRefusalCode.NOT_MEMBER, "the record must list this node and be sent by its founder")
        return record.members[position]

    def _join(self, record: QuorumRecord) -> None:
        if self.record is None or self.record.quorum_id != record.quorum_id:
            log.info("joined quorum %s at step %d: %s", record.quorum_id[:16], record.step,
                     " → ".join(f"{m.node_id[:8]}[{m.layer_start},{m.layer_stop})" for m in record.members))
        own = self._own_view()
        assert own is not None
        self.record = record
        self.stage.join(record.layout_for(own.node_id))
        self.reason = "member of a quorum covering every layer"

    def leave(self, reason: str) -> None:
        """Leave the quorum this node is in (a mode switch); its founder notices the silence."""
        if self.record is not None:
            self._leave(reason)

    def _leave(self, reason: str) -> None:
        log.info("left quorum %s: %s", self.quorum_id[:16] if self.quorum_id else None, reason)
        self.record, self.lifecycle = None, None
        self.stage.leave()
        self.reason = reason

    # ------------------------------------------------------------ founder side
    def view(self) -> NetworkView | None:
        own, peers = self._own_view(), self._peers()
        if own is None or peers is None:
            return None
        return build_network_view(own, peers.peers(), self.stage.arch)

    async def tend(self) -> None:
        """One tick: form a quorum, watch its members, replace or dissolve (founder); watch the founder (member)."""
        own = self._own_view()
        if own is None or own.layer_range is None:
            return
        if self.record is not None and self.record.founder != own.node_id:
            self._watch_founder()
        elif self.record is None and own.layer_range.start == 0:
            await self._try_form(own)
        elif self.lifecycle is not None:
            await self._watch_members()

    def _watch_founder(self) -> None:
        peers = self._peers()
        founder = peers.table.get(NodeId(self.record.founder)) if peers and self.record else None
        if founder is None or founder.state is PeerState.OFFLINE:
            self._leave("the quorum's founder went silent")

    async def _try_form(self, own: NodeView) -> None:
        view = self.view()
        if view is None:
            return
        result = form_quorum(own.node_id, view, now_s=self._clock(), latency_ms={},
                             excluded=frozenset(NodeId(n) for n in self._refused))
        self._refused.clear()
        if isinstance(result, FormationFailure):
            self.reason = f"no quorum yet: {result.detail}"
            return
        record = self._record_from(result, step=self.stage.step)
        refused = await self._send_all(record, PROPOSE_PATH, QUORUM_PROPOSE, QUORUM_ACCEPT)
        if refused:
            self._refused.update(refused)
            self.reason = f"proposal refused by {len(refused)} member(s); retrying without them"
            return
        if await self._send_all(record, COMMIT_PATH, QUORUM_COMMIT, QUORUM_COMMITTED):
            await self._dissolve(record, "a member failed to commit")
            return
        self._join(record)
        state = start_quorum(result, self.lifecycle_config)
        for member in result.members[1:]:
            state = apply_event(state, ProposalAccepted(member.node_id, self._clock()))
        self.lifecycle = state

    def _record_from(self, proposal: QuorumProposal, *, step: int) -> QuorumRecord:
        peers = self._peers()
        assert peers is not None
        own_address = f"{peers.own_record.addresses[0]}:{peers.port}"
        members = []
        for member in proposal.members:
            info = peers.table.get(member.node_id)
            address = own_address if info is None else info.address
            members.append(RecordMember(member.node_id, address, member.stage.start, member.stage.stop,
                                        TIER_NAMES[int(member.tier) - 1], member.speed_ms_per_layer))
        return QuorumRecord(quorum_id=proposal.quorum_id, founder=proposal.founder, members=tuple(members),
                            created_at_s=proposal.created_at_s, session_s=proposal.session_s, step=step)

    async def _send_all(self, record: QuorumRecord, path: str, message_type: str, reply_type: str,
                        members: list[RecordMember] | None = None) -> set[str]:
        """Send `record` to `members` (default: all but us) at once; the node ids that did not agree."""
        peers = self._peers()
        assert peers is not None
        targets = members if members is not None else [m for m in record.members if m.node_id != peers.node_id]

        async def send(member: RecordMember) -> str | None:
            try:
                async with asyncio.timeout(self.config.stage_timeout_s):
                    await peers.client.call(member.address, path, message_type=message_type,
                                            payload=record.to_payload(), reply_type=reply_type,
                                            expected_node_id=member.node_id)
            except (PeerRequestError, TimeoutError) as error:
                log.info("%s to %s… failed: %s", message_type, member.node_id[:12], error)
                return member.node_id
            return None

        answers = await asyncio.gather(*(send(member) for member in targets))
        return {node_id for node_id in answers if node_id is not None}

    # ------------------------------------------------------------ lifecycle (founder)
    def on_batches(self, count: int) -> None:
        if self.lifecycle is not None:
            self.lifecycle = apply_event(self.lifecycle, BatchesCompleted(count, self._clock()))

    async def on_step_failed(self, suspect: str | None) -> None:
        """After a failed step: restart the step everywhere, or leave it to the health rules."""
        if self.record is None or self.lifecycle is None:
            return
        failed = await self._send_all(self.record, COMMIT_PATH, QUORUM_COMMIT, QUORUM_COMMITTED)
        if failed:
            self.reason = f"member(s) {sorted(n[:12] for n in failed)} not answering; waiting for the health rules"
            return
        self._join(self.record)  # drop our own partial gradients too

    async def _watch_members(self) -> None:
        assert self.lifecycle is not None and self.record is not None
        peers = self._peers()
        now_s = self._clock()
        state = apply_event(self.lifecycle, Heartbeat(NodeId(self.record.founder), now_s))  # we are alive
        for member in self.record.members[1:]:
            info = peers.table.get(NodeId(member.node_id)) if peers else None
            if info is not None and info.last_heartbeat_at_s is not None and info.state is PeerState.ALIVE:
                state = apply_event(state, Heartbeat(NodeId(member.node_id), min(info.last_heartbeat_at_s, now_s)))
        state = apply_event(state, Tick(now_s))
        self.lifecycle = state
        if state.phase is QuorumPhase.DISSOLVED:
            await self._dissolve(self.record, f"lifecycle: {state.dissolve_reason.value if state.dissolve_reason else ''}")
            return
        for node_id, why in state.replacements_wanted:
            await self._replace(node_id, why.value)

    async def _replace(self, node_id: str, why: str) -> None:
        assert self.record is not None and self.lifecycle is not None
        old = self.lifecycle.member(NodeId(node_id))
        view = self.view()
        if old is None or view is None:
            return
        staying = [m for m in self.lifecycle.members if m.node_id != node_id]
        excluded = frozenset({NodeId(m.node_id) for m in self.record.members} | {NodeId(n) for n in self._refused})
        candidate = find_replacement(old.member.stage, [m.member.tier for m in staying], view,
                                     latency_ms={}, excluded=excluded)
        if candidate is None:
            self.reason = f"member {node_id[:12]} {why}; no free holder of layers {tuple(old.member.stage)} yet"
            return
        record = self._record_with(candidate, replacing=node_id)
        joining = [m for m in record.members if m.node_id == candidate.node_id]
        if await self._send_all(record, PROPOSE_PATH, QUORUM_PROPOSE, QUORUM_ACCEPT, members=joining):
            self._refused.add(candidate.node_id)
            return
        log.info("replacing %s… (%s) with %s… in quorum %s", node_id[:12], why, candidate.node_id[:12],
                 record.quorum_id[:16])
        self.lifecycle = apply_event(self.lifecycle, MemberReplaced(NodeId(node_id), candidate, self._clock()))
        self.record = record
        failed = await self._send_all(record, COMMIT_PATH, QUORUM_COMMIT, QUORUM_COMMITTED)
        self._join(record)
        if failed:
            self.reason = f"replacement committed; {len(failed)} member(s) did not answer the commit"
        else:
            self.reason = f"member replaced ({why}); quorum goes on"

    def _record_with(self, candidate: QuorumMember, *, replacing: str) -> QuorumRecord:
        assert self.record is not None
        peers = self._peers()
        info = peers.table.get(candidate.node_id) if peers else None
        address = info.address if info else ""
        members = tuple(
            RecordMember(candidate.node_id, address, m.layer_start, m.layer_stop,
                         TIER_NAMES[int(candidate.tier) - 1], candidate.speed_ms_per_layer)
            if m.node_id == replacing else m
            for m in self.record.members
        )
        return QuorumRecord(quorum_id=self.record.quorum_id, founder=self.record.founder, members=members,
                            created_at_s=self.record.created_at_s, session_s=self.record.session_s,
                            step=self.stage.step)

    async def _dissolve(self, record: QuorumRecord, reason: str) -> None:
        peers = self._peers()
        if peers is not None:
            targets = [m for m in record.members if m.node_id != peers.node_id]
            payload = {"quorum_id": record.quorum_id, "reason": reason}

            async def send(member: RecordMember) -> None:
                try:
                    async with asyncio.timeout(self.config.apply_timeout_s):
                        await peers.client.call(member.address, DISSOLVE_PATH, message_type=QUORUM_DISSOLVE,
                                                payload=payload, reply_type=QUORUM_DISSOLVED,
                                                expected_node_id=member.node_id)
                except (PeerRequestError, TimeoutError):
                    pass  # a member we cannot reach leaves by itself when our heartbeats stop

            await asyncio.gather(*(send(member) for member in targets))
        if self.record is not None and self.record.quorum_id == record.quorum_id:
            self._leave(f"dissolved: {reason}")


def layer_range_of(start: int | None, stop: int | None) -> LayerRange | None:
    return None if start is None or stop is None else LayerRange(start, stop)
