"""A quorum's life as a pure state machine fed with events (DESIGN.md §6, §8).

FORMING → ACTIVE → (RENEWING) → DISSOLVED. Every change is
`apply_<event>(state, event) -> state`; `apply_event` dispatches. Time moves
only through events' `at_s`; time-driven transitions (missed heartbeats,
renewal, session end, proposal timeout) happen on `Tick`, which the agent
sends every few seconds and the simulator at the times it cares about.

Rules, with the choices DESIGN leaves open:

- FORMING: the founder has accepted; the quorum activates when the last
  member accepts (the session starts then). A refusal, or missing answers
  after `proposal_timeout_s`, dissolves it; the founder retries with
  `form_quorum(..., excluded=...)`.
- Health, on Tick: no heartbeat for 2 × 30 s → DEGRADED (and a replacement
  is wanted); 120 s → OFFLINE, and a member still offline at a Tick is lost
  with no replacement: the quorum dissolves. A heartbeat restores HEALTHY.
- Slow: "latency > 2× the tier's average" is read per layer. Tiers are
  defined in ms per layer (§4), and balanced stages (pipeline_layout) give a
  fast member more layers, so its stage takes longer than a slow member's
  one-layer stage of the same tier; comparing whole-stage latencies flagged
  healthy fast members (and then their replacements, which take the same
  stage). So a sample carries the stage latency and the stage's layer
  count, and the member is over the bound when latency / layers > 2 × the
  tier's average ms per layer. A griefer that benchmarks fast and runs
  slow is over it once its real ms per layer is twice its tier's average,
  whatever its stage. An over-bound sample starts a clock; while samples
  stay above it, 300 s later a replacement is wanted. One sample at or
  below the bound stops the clock.
- Renewal at 80 % of the current session: with < 1000 batches this session
  the quorum is not renewed and dissolves at the session end. Otherwise it
  enters RENEWING and extends as soon as no replacement is wanted (at once
  if all are healthy): the next session runs from the current end for
  another `session_s`, never past activation + 14400 s. Renewal is not
  offered once an extension would gain nothing.
- Replacement (`MemberReplaced`): the new member takes the old member's stage
  unchanged and must be tier-compatible with all who stay. The lifecycle does
  not police why a healthy member is replaced; the agent applies
  `quorum_replacement.is_faster_candidate` at renewal time.
- An architecture upgrade dissolves the quorum whatever its phase; so does a
  failed cross-quorum audit (§13: a colluding quorum found out is dissolved).
"""

from __future__ import annotations

from typing import TypeVar

from .errors import ProtocolError
from .quorum_events import (
    ArchitectureUpgraded,
    AuditFailed,
    BatchesCompleted,
    CheckIn,
    Heartbeat,
    Heartbeats,
    LatencySample,
    MemberLeaving,
    MemberReplaced,
    ProposalAccepted,
    ProposalRefused,
    ProposalsAccepted,
    QuorumEvent,
    Tick,
)
from .quorum_formation import QuorumProposal
from .quorum_state import (
    DissolveReason,
    LifecycleConfig,
    MemberHealth,
    MemberState,
    QuorumPhase,
    QuorumState,
)
from .tiers import is_tier_group_compatible
from .types import NodeId

_Record = TypeVar("_Record", QuorumState, MemberState)


def replace(record: _Record, **changes: object) -> _Record:
    """`dataclasses.replace` for QuorumState and MemberState, about 8× faster.

    Both are frozen dataclasses with no __post_init__ and no init=False field,
    so a copy of the field values with some changed is exactly what
    dataclasses.replace would build; its per-field introspection was most of
    a lifecycle event's cost (the simulator applies millions of them).
    """
    values = record.__dict__
    if not changes.keys() <= values.keys():  # a containment test, no set built
        unknown = changes.keys() - values.keys()
        raise TypeError(f"{type(record).__name__} has no field(s) {sorted(unknown)}")
    copy = object.__new__(type(record))
    copy.__dict__.update(values)
    copy.__dict__.update(changes)
    return copy


def start_quorum(proposal: QuorumProposal, config: LifecycleConfig | None = None) -> QuorumState:
    """The FORMING state of a proposal the founder has just signed (and so accepted)."""
    config = config or LifecycleConfig()
    members = tuple(
        MemberState(member=m, accepted=m.node_id == proposal.founder, last_heartbeat_s=proposal.created_at_s)
        for m in proposal.members
    )
    return QuorumState(
        quorum_id=proposal.quorum_id,
        founder=proposal.founder,
        phase=QuorumPhase.FORMING,
        members=members,
        session_s=min(proposal.session_s, config.session_cap_s),
        created_at_s=proposal.created_at_s,
        config=config,
    )


def _dissolve(state: QuorumState, reason: DissolveReason) -> QuorumState:
    return replace(state, phase=QuorumPhase.DISSOLVED, dissolve_reason=reason, renewal_due_s=None)


def _with_member(state: QuorumState, updated: MemberState) -> QuorumState:
    members = tuple(updated if m.node_id == updated.node_id else m for m in state.members)
    return replace(state, members=members)


def apply_proposal_accepted(state: QuorumState, event: ProposalAccepted) -> QuorumState:
    member = state.member(event.node_id)
    if state.phase is not QuorumPhase.FORMING or member is None:
        return state
    state = _with_member(state, replace(member, accepted=True, last_heartbeat_s=event.at_s))
    if not all(m.accepted for m in state.members):
        return state
    return _activate(state, event.at_s)


def apply_proposals_accepted(state: QuorumState, event: ProposalsAccepted) -> QuorumState:
    """The same state as applying each answer's ProposalAccepted in turn, with fewer copies."""
    if state.phase is not QuorumPhase.FORMING:
        return state
    answered_at_s: dict[NodeId, float] = {}
    waiting = {m.node_id for m in state.members if not m.accepted}
    members = {m.node_id for m in state.members}
    for node_id, at_s in event.answers:
        if node_id not in members:
            continue
        answered_at_s[node_id] = at_s
        waiting.discard(node_id)
        if not waiting:
            return _activate(state, at_s)  # later answers find it ACTIVE: ignored
    return replace(
        state,
        members=tuple(
            replace(m, accepted=True, last_heartbeat_s=answered_at_s[m.node_id])
            if m.node_id in answered_at_s
            else m
            for m in state.members
        ),
    )


def _activate(state: QuorumState, at_s: float) -> QuorumState:
    """Every member has accepted at `at_s`: the first session starts."""
    members = tuple(replace(m, accepted=True, last_heartbeat_s=at_s) for m in state.members)
    ends_s = at_s + state.session_s
    return replace(
        state,
        phase=QuorumPhase.ACTIVE,
        members=members,
        activated_at_s=at_s,
        session_ends_s=ends_s,
        renewal_due_s=_renewal_due(state, session_start_s=at_s, session_ends_s=ends_s, activated_at_s=at_s),
    )


def _renewal_due(
    state: QuorumState, *, session_start_s: float, session_ends_s: float, activated_at_s: float
) -> float | None:
    """When to check renewal for this session; None when the cap leaves nothing to extend."""
    if session_ends_s >= activated_at_s + state.config.session_cap_s:
        return None
    return session_start_s + state.config.renewal_at_session_fraction * (session_ends_s - session_start_s)


def apply_proposal_refused(state: QuorumState, event: ProposalRefused) -> QuorumState:
    if state.phase is not QuorumPhase.FORMING or state.member(event.node_id) is None:
        return state
    return _dissolve(state, DissolveReason.PROPOSAL_REFUSED)


def apply_heartbeat(state: QuorumState, event: Heartbeat) -> QuorumState:
    member = state.member(event.node_id)
    if member is None or state.phase is QuorumPhase.DISSOLVED or member.health is MemberHealth.OFFLINE:
        return state  # strangers' and lost members' heartbeats change nothing
    updated = replace(
        member, last_heartbeat_s=max(member.last_heartbeat_s, event.at_s), health=MemberHealth.HEALTHY
    )
    return _extend_if_ready(_with_member(state, updated))


def apply_heartbeats(state: QuorumState, event: Heartbeats) -> QuorumState:
    """A Heartbeat from each of `event.node_ids` at `event.at_s`, with one copy of the state."""
    if state.phase is QuorumPhase.DISSOLVED:
        return state
    return _extend_if_ready(replace(state, members=_heard(state, event.node_ids, event.at_s)))


def _heard(state: QuorumState, heard: tuple[NodeId, ...] | frozenset[NodeId], at_s: float) -> tuple[MemberState, ...]:
    """The members after a heartbeat at `at_s` from each of `heard` (lost members stay lost)."""
    offline = MemberHealth.OFFLINE
    if len(heard) > 8:  # a quorum's few ids are scanned faster as a tuple
        heard = frozenset(heard)
    return tuple(
        replace(m, last_heartbeat_s=max(m.last_heartbeat_s, at_s), health=MemberHealth.HEALTHY)
        if m.member.node_id in heard and m.health is not offline
        else m
        for m in state.members
    )


def apply_check_in(state: QuorumState, event: CheckIn) -> QuorumState:
    """Heartbeats, BatchesCompleted and Tick in turn (see CheckIn), with one copy of the state
    where the three would make three. Property-tested equal to the three in turn."""
    if event.batches < 0:
        raise ProtocolError(f"batch count must be >= 0, got {event.batches}")
    if state.phase is QuorumPhase.DISSOLVED:
        return state
    members, batches = _heard(state, event.node_ids, event.at_s), event.batches
    if state.phase is QuorumPhase.RENEWING:  # the heartbeats may start the next session first
        state = _extend_if_ready(replace(state, members=members))
        if batches:
            state = replace(state, batches_in_session=state.batches_in_session + batches)
    elif batches and state.phase is QuorumPhase.ACTIVE:  # live: the batches count
        state = replace(state, members=members, batches_in_session=state.batches_in_session + batches)
    else:  # FORMING: not live, batches change nothing (nor does _extend_if_ready)
        state = replace(state, members=members)
    return _tick(state, event.at_s)


def apply_latency_sample(state: QuorumState, event: LatencySample) -> QuorumState:
    if event.layers < 1:
        raise ProtocolError(
            f"a latency sample covers a stage of >= 1 layer, got {event.layers} for {event.node_id}"
        )
    member = state.member(event.node_id)
    if member is None or not state.is_live:
        return state
    if is_within_latency_bound(
        event.latency_ms, event.layers, event.tier_average_ms_per_layer, config=state.config
    ):
        return _extend_if_ready(_with_member(state, replace(member, slow_since_s=None, slow=False)))
    since_s = member.slow_since_s if member.slow_since_s is not None else event.at_s
    slow = event.at_s - since_s >= state.config.slow_window_s
    return _with_member(state, replace(member, slow_since_s=since_s, slow=slow))


def is_within_latency_bound(
    latency_ms: float, layers: int, tier_average_ms_per_layer: float, *, config: LifecycleConfig
) -> bool:
    """Whether a stage latency over `layers` layers is at most the slow bound per layer (see above).

    Compared as latency <= factor × average × layers: the same test as the
    per-layer one without a division, so an observer that pre-filters with
    it (the simulator) and the lifecycle never disagree by a rounding.
    """
    return latency_ms <= config.slow_latency_factor * tier_average_ms_per_layer * layers


def apply_batches_completed(state: QuorumState, event: BatchesCompleted) -> QuorumState:
    if event.count < 0:
        raise ProtocolError(f"batch count must be >= 0, got {event.count}")
    if not state.is_live:
        return state
    return replace(state, batches_in_session=state.batches_in_session + event.count)


def apply_member_leaving(state: QuorumState, event: MemberLeaving) -> QuorumState:
    member = state.member(event.node_id)
    if member is None or state.phase is QuorumPhase.DISSOLVED:
        return state
    if state.phase is QuorumPhase.FORMING:
        return _dissolve(state, DissolveReason.PROPOSAL_REFUSED)
    return _with_member(state, replace(member, leaving=True))


def apply_member_replaced(state: QuorumState, event: MemberReplaced) -> QuorumState:
    old = state.member(event.leaving_node_id)
    new = event.replacement
    if not state.is_live:
        return state
    if old is None:
        raise ProtocolError(f"{event.leaving_node_id} is not a member of quorum {state.quorum_id}")
    if state.member(new.node_id) is not None:
        raise ProtocolError(f"{new.node_id} is already a member of quorum {state.quorum_id}")
    if new.stage != old.member.stage:
        raise ProtocolError(f"a replacement takes the stage {old.member.stage} unchanged, got {new.stage}")
    staying = [m.member.tier for m in state.members if m.node_id != old.node_id]
    if not is_tier_group_compatible([*staying, new.tier]):
        raise ProtocolError(f"{new.node_id} ({new.tier.name}) is not compatible with tiers {staying}")
    joined = MemberState(member=new, accepted=True, last_heartbeat_s=event.at_s)
    members = tuple(joined if m.node_id == old.node_id else m for m in state.members)
    return _extend_if_ready(replace(state, members=members))


def apply_architecture_upgraded(state: QuorumState, event: ArchitectureUpgraded) -> QuorumState:
    if state.phase is QuorumPhase.DISSOLVED:
        return state
    return _dissolve(state, DissolveReason.ARCHITECTURE_UPGRADE)


def apply_audit_failed(state: QuorumState, event: AuditFailed) -> QuorumState:
    if state.phase is QuorumPhase.DISSOLVED:
        return state
    return _dissolve(state, DissolveReason.AUDIT_FAILED)


def apply_tick(state: QuorumState, event: Tick) -> QuorumState:
    return _tick(state, event.at_s)


def _tick(state: QuorumState, at_s: float) -> QuorumState:
    if state.phase is QuorumPhase.DISSOLVED:
        return state
    if state.phase is QuorumPhase.FORMING:
        if at_s - state.created_at_s >= state.config.proposal_timeout_s:
            return _dissolve(state, DissolveReason.PROPOSAL_TIMEOUT)
        return state
    state = _with_health_at(state, at_s)
    if any(m.health is MemberHealth.OFFLINE for m in state.members):
        return _dissolve(state, DissolveReason.MEMBER_LOST)
    if state.session_ends_s is not None and at_s >= state.session_ends_s:
        return _dissolve(state, DissolveReason.SESSION_ENDED)
    if (
        state.phase is QuorumPhase.ACTIVE
        and state.renewal_due_s is not None
        and at_s >= state.renewal_due_s
    ):
        if state.batches_in_session < state.config.renewal_min_batches:
            return replace(state, renewal_due_s=None)  # not renewed: ends with its session
        return _extend_if_ready(replace(state, phase=QuorumPhase.RENEWING))
    return state


def _with_health_at(state: QuorumState, at_s: float) -> QuorumState:
    """Every member's health at `at_s` (_health_at); the same state object when none changes."""
    config = state.config
    # _health_at changes a member only once it has been silent for the smaller of the two
    # thresholds; a quorum whose members were all heard since (the usual check) is
    # returned as it is, without a _health_at call per member. The same comparison.
    changes_after_s = min(
        config.offline_after_s, config.degraded_after_missed_heartbeats * config.heartbeat_interval_s
    )
    for member in state.members:
        if at_s - member.last_heartbeat_s >= changes_after_s:
            break
    else:
        return state
    members = [_health_at(config, m, at_s) for m in state.members]
    if any(new is not old for new, old in zip(members, state.members, strict=True)):
        return replace(state, members=tuple(members))
    return state


def _health_at(config: LifecycleConfig, member: MemberState, at_s: float) -> MemberState:
    silent_s = at_s - member.last_heartbeat_s
    if silent_s >= config.offline_after_s:
        return replace(member, health=MemberHealth.OFFLINE)
    if silent_s >= config.degraded_after_missed_heartbeats * config.heartbeat_interval_s:
        return replace(member, health=MemberHealth.DEGRADED)
    return member


def _extend_if_ready(state: QuorumState) -> QuorumState:
    """RENEWING with nobody left to replace: start the next session."""
    if state.phase is not QuorumPhase.RENEWING or state.replacements_wanted:
        return state
    if state.activated_at_s is None or state.session_ends_s is None:
        raise ProtocolError(f"quorum {state.quorum_id} is renewing but was never activated")
    cap_s = state.activated_at_s + state.config.session_cap_s
    new_end_s = min(state.session_ends_s + state.session_s, cap_s)
    return replace(
        state,
        phase=QuorumPhase.ACTIVE,
        session_ends_s=new_end_s,
        renewal_due_s=_renewal_due(
            state,
            session_start_s=state.session_ends_s,
            session_ends_s=new_end_s,
            activated_at_s=state.activated_at_s,
        ),
        batches_in_session=0,
    )


_APPLY = {
    ProposalAccepted: apply_proposal_accepted,
    ProposalsAccepted: apply_proposals_accepted,
    ProposalRefused: apply_proposal_refused,
    Heartbeat: apply_heartbeat,
    Heartbeats: apply_heartbeats,
    CheckIn: apply_check_in,
    LatencySample: apply_latency_sample,
    BatchesCompleted: apply_batches_completed,
    MemberLeaving: apply_member_leaving,
    MemberReplaced: apply_member_replaced,
    ArchitectureUpgraded: apply_architecture_upgraded,
    AuditFailed: apply_audit_failed,
    Tick: apply_tick,
}


def apply_event(state: QuorumState, event: QuorumEvent) -> QuorumState:
    """Apply any quorum event; the same events in the same order give the same state."""
    return _APPLY[type(event)](state, event)  # type: ignore[operator]
