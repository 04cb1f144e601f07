"""The peer table: every node we know of, as data (PeerInfo), with liveness from coordinator_free.

Only hellos and heartbeats make a peer "heard"; records learnt by exchange
name candidates to greet, never members, so a forwarded record cannot keep a
dead node alive. Wall-clock times are for display; liveness uses the same
clock passed in, so tests can drive it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from coordinator_free.peer_health import (
    PeerHealthTimings,
    PeerState,
    is_contactable,
    peer_state,
)
from coordinator_free.types import NodeId

from .messages import Heartbeat, PeerRecord

logger = logging.getLogger(__name__)

FOUND_BY_MDNS = "mdns"
FOUND_BY_BOOTSTRAP = "bootstrap"
FOUND_BY_EXCHANGE = "exchange"
FOUND_BY_INBOUND = "inbound"  # it greeted us first


@dataclass(frozen=True)
class PeerInfo:
    node_id: NodeId
    host: str  # address we reach it on
    port: int  # its peer server port
    found_by: tuple[str, ...]  # ways we learnt of it, first first
    state: PeerState
    tier: str | None
    layer_start: int | None  # half-open layer range, None: no layers
    layer_stop: int | None
    arch_name: str
    arch_version: int
    vocab_version: int
    boot_id: str  # changes when it restarts
    last_heard_at_s: float  # wall clock of the last hello or heartbeat
    last_heartbeat_at_s: float | None  # wall clock of the last heartbeat, None before the first
    quorum_id: str | None = None
    queue_depth: int = 0
    free_capacity_fraction: float = 1.0
    step: int = 0
    said_goodbye: bool = False  # left cleanly (mDNS goodbye); offline until heard again

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class StateChange:
    node_id: NodeId
    old: PeerState
    new: PeerState


class PeerTable:
    def __init__(self, timings: PeerHealthTimings, clock: Callable[[], float] = time.time) -> None:
        self._timings = timings
        self._clock = clock
        self._peers: dict[NodeId, PeerInfo] = {}
        self._records: dict[NodeId, bytes] = {}  # latest signed peer_record, as received

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    def get(self, node_id: NodeId) -> PeerInfo | None:
        return self._peers.get(node_id)

    def snapshot(self) -> list[PeerInfo]:
        """Every known peer, sorted by node id (stable for tables and tests)."""
        return [self._peers[node_id] for node_id in sorted(self._peers)]

    def contactable(self) -> list[PeerInfo]:
        return [peer for peer in self.snapshot() if is_contactable(peer.state)]

    def record_hello(
        self,
        *,
        node_id: NodeId,
        host: str,
        found_by: str,
        record: PeerRecord,
        record_bytes: bytes,
        versions: tuple[str, int, int],
    ) -> None:
        """A verified hello or hello reply: the peer is alive at `host` now."""
        now_s = self._clock()
        old = self._peers.get(node_id)
        found = old.found_by if old else ()
        arch_name, arch_version, vocab_version = versions
        info = PeerInfo(
            node_id=node_id, host=host, port=record.port,
            found_by=found if found_by in found else (*found, found_by),
            state=PeerState.ALIVE, tier=record.tier, layer_start=record.layer_start,
            layer_stop=record.layer_stop, arch_name=arch_name, arch_version=arch_version,
            vocab_version=vocab_version, boot_id=record.boot_id, last_heard_at_s=now_s,
            last_heartbeat_at_s=old.last_heartbeat_at_s if old and old.boot_id == record.boot_id else None,
        )
        if old is not None and old.boot_id == record.boot_id:
            info = dataclasses.replace(info, quorum_id=old.quorum_id, queue_depth=old.queue_depth,
                                       free_capacity_fraction=old.free_capacity_fraction, step=old.step)
        self._peers[node_id] = info
        self._records[node_id] = record_bytes
        if old is None or old.state != PeerState.ALIVE:
            logger.info("peer %s… at %s is alive (found by %s)", node_id[:12], info.address, found_by)

    def update_record(self, node_id: NodeId, record: PeerRecord, record_bytes: bytes) -> None:
        """A newer signed record of a known peer (learnt by exchange): update what it holds."""
        old = self._peers.get(node_id)
        if old is None:
            return
        self._records[node_id] = record_bytes
        self._peers[node_id] = dataclasses.replace(
            old, tier=record.tier, layer_start=record.layer_start, layer_stop=record.layer_stop
        )

    def add_found_by(self, node_id: NodeId, found_by: str) -> None:
        """Note another way we learnt of a known peer (shown in `neuroshard peers`)."""
        old = self._peers.get(node_id)
        if old is not None and found_by not in old.found_by:
            self._peers[node_id] = dataclasses.replace(old, found_by=(*old.found_by, found_by))

    def record_heartbeat(self, node_id: NodeId, heartbeat: Heartbeat) -> bool:
        """A verified heartbeat; False if the sender is unknown or restarted (it must greet again)."""
        old = self._peers.get(node_id)
        if old is None or old.boot_id != heartbeat.boot_id:
            return False
        now_s = self._clock()
        self._peers[node_id] = dataclasses.replace(
            old, state=PeerState.ALIVE, said_goodbye=False, last_heard_at_s=now_s,
            last_heartbeat_at_s=now_s, quorum_id=heartbeat.quorum_id, queue_depth=heartbeat.queue_depth,
            free_capacity_fraction=heartbeat.free_capacity_fraction, step=heartbeat.step,
        )
        if old.state != PeerState.ALIVE:
            logger.info("peer %s… is alive again", node_id[:12])
        return True

    def record_goodbye(self, node_id: NodeId, boot_id: str | None = None) -> None:
        """The peer left cleanly; `boot_id` (if given) must be the run we know, not an earlier one."""
        old = self._peers.get(node_id)
        if old is not None and boot_id in (None, old.boot_id):
            self._peers[node_id] = dataclasses.replace(old, said_goodbye=True, state=PeerState.OFFLINE)
            logger.info("peer %s… said goodbye", node_id[:12])

    def refresh_states(self) -> list[StateChange]:
        """Apply the liveness rule to every peer; forgotten ones leave the table."""
        now_s = self._clock()
        changes = []
        for node_id, info in list(self._peers.items()):
            new = peer_state(silence_s=now_s - info.last_heard_at_s, said_goodbye=info.said_goodbye,
                             timings=self._timings)
            if new == info.state:
                continue
            changes.append(StateChange(node_id, info.state, new))
            if new == PeerState.FORGOTTEN:
                del self._peers[node_id]
                self._records.pop(node_id, None)
            else:
                self._peers[node_id] = dataclasses.replace(info, state=new)
        for change in changes:
            logger.info("peer %s… %s → %s", change.node_id[:12], change.old.value, change.new.value)
        return changes

    def records_to_share(self, limit: int) -> list[bytes]:
        """Signed records of contactable peers, for peer exchange (freshest heard first)."""
        peers = sorted(self.contactable(), key=lambda peer: peer.last_heard_at_s, reverse=True)
        return [self._records[peer.node_id] for peer in peers[:limit] if peer.node_id in self._records]
