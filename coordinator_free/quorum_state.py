"""A quorum's state and the vocabulary of its lifecycle (quorum_lifecycle.py changes it).

Which replacements a quorum wants is derived from its members' states, never
stored beside them, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .constants import (
    DEGRADED_AFTER_MISSED_HEARTBEATS,
    HEARTBEAT_INTERVAL_S,
    OFFLINE_AFTER_S,
    QUORUM_PROPOSAL_TIMEOUT_S,
    QUORUM_SESSION_CAP_S,
    RENEWAL_AT_SESSION_FRACTION,
    RENEWAL_MIN_BATCHES,
    SLOW_MEMBER_LATENCY_FACTOR,
    SLOW_MEMBER_WINDOW_S,
)
from .quorum_formation import QuorumMember
from .types import NodeId, QuorumId


class QuorumPhase(Enum):
    FORMING = "forming"
    ACTIVE = "active"
    RENEWING = "renewing"
    DISSOLVED = "dissolved"


class MemberHealth(Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    OFFLINE = "offline"


class ReplacementReason(Enum):
    LEAVING = "leaving"
    DEGRADED = "degraded"
    SLOW = "slow"


class DissolveReason(Enum):
    PROPOSAL_REFUSED = "proposal_refused"
    PROPOSAL_TIMEOUT = "proposal_timeout"
    SESSION_ENDED = "session_ended"
    MEMBER_LOST = "member_lost"
    ARCHITECTURE_UPGRADE = "architecture_upgrade"
    AUDIT_FAILED = "audit_failed"


@dataclass(frozen=True)
class LifecycleConfig:
    """Timings and thresholds; tests shrink them here, never by patching constants."""

    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S  # expected gap between heartbeats, s
    degraded_after_missed_heartbeats: int = DEGRADED_AFTER_MISSED_HEARTBEATS  # count
    offline_after_s: float = OFFLINE_AFTER_S  # silence that makes a member offline, s
    proposal_timeout_s: float = QUORUM_PROPOSAL_TIMEOUT_S  # wait for all acceptances, s
    renewal_at_session_fraction: float = RENEWAL_AT_SESSION_FRACTION  # share of a session
    renewal_min_batches: int = RENEWAL_MIN_BATCHES  # batches this session needed to renew
    session_cap_s: float = QUORUM_SESSION_CAP_S  # longest life from activation, s
    slow_latency_factor: float = SLOW_MEMBER_LATENCY_FACTOR  # × the tier's average, compared per layer
    slow_window_s: float = SLOW_MEMBER_WINDOW_S  # how long slow before replacement, s


@dataclass(frozen=True)
class MemberState:
    member: QuorumMember
    accepted: bool  # has signed the proposal
    last_heartbeat_s: float  # time of its latest heartbeat (or of joining)
    health: MemberHealth = MemberHealth.HEALTHY
    slow_since_s: float | None = None  # start of the current run of slow samples
    slow: bool = False  # slow for at least slow_window_s
    leaving: bool = False  # announced a graceful leave

    @property
    def node_id(self) -> NodeId:
        return self.member.node_id

    @property
    def replacement_reason(self) -> ReplacementReason | None:
        if self.leaving:
            return ReplacementReason.LEAVING
        if self.health is not MemberHealth.HEALTHY:
            return ReplacementReason.DEGRADED
        return ReplacementReason.SLOW if self.slow else None


@dataclass(frozen=True)
class QuorumState:
    quorum_id: QuorumId
    founder: NodeId
    phase: QuorumPhase
    members: tuple[MemberState, ...]  # pipeline order
    session_s: float  # length of one session, s
    created_at_s: float  # when the proposal was made
    activated_at_s: float | None = None  # when the last member accepted
    session_ends_s: float | None = None  # end of the current session
    renewal_due_s: float | None = None  # next renewal check; None: no renewal left
    batches_in_session: int = 0  # batches since activation or the last renewal
    dissolve_reason: DissolveReason | None = None
    config: LifecycleConfig = LifecycleConfig()

    def member(self, node_id: NodeId) -> MemberState | None:
        return next((m for m in self.members if m.node_id == node_id), None)

    @property
    def replacements_wanted(self) -> tuple[tuple[NodeId, ReplacementReason], ...]:
        """Members the quorum should replace now, in pipeline order, with why."""
        healthy = MemberHealth.HEALTHY
        for m in self.members:
            if m.leaving or m.slow or m.health is not healthy:
                break
        else:
            return ()  # the usual answer, without a replacement_reason call per member
        return tuple((m.node_id, r) for m in self.members if (r := m.replacement_reason) is not None)

    @property
    def is_live(self) -> bool:
        return self.phase in (QuorumPhase.ACTIVE, QuorumPhase.RENEWING)
