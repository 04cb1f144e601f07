"""A quorum's life in the simulator: found, check, lose a member, replace, dissolve.

Decisions are the rules' (form_quorum, apply_event, find_replacement); this
module turns the world's happenings into the rules' events at the right
virtual times (see quorums.py for why checks, not 30-second heartbeats).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordinator_free.quorum_events import (
    ArchitectureUpgraded,
    AuditFailed,
    CheckIn,
    Heartbeat,
    LatencySample,
    MemberLeaving,
    MemberReplaced,
    ProposalsAccepted,
)
from coordinator_free.quorum_formation import (
    FormationFailure,
    QuorumProposal,
    form_quorum,
)
from coordinator_free.quorum_lifecycle import start_quorum
from coordinator_free.quorum_replacement import find_replacement
from coordinator_free.quorum_state import QuorumPhase
from coordinator_free.types import NodeId

from .events import EventKind
from .hardware import COLLUDE
from .quorums import LIFECYCLE, SimQuorum, apply, credit, join, leave, refresh_rate
from .views import formation_tiers, formation_view, replacement_view

if TYPE_CHECKING:
    from .world import World

_DEGRADED_AFTER_S = (
    LIFECYCLE.degraded_after_missed_heartbeats * LIFECYCLE.heartbeat_interval_s
)
_EPSILON_S = 1e-6  # a check scheduled "at" a threshold lands just past it


# ------------------------------------------------------------------ formation


def try_found(world: World, founder: int) -> bool:
    """The founder runs form_quorum on what it sees; on success every member accepts."""
    view, latency = formation_view(world, founder)
    result = form_quorum(
        world.table.node_id(founder),
        view,
        now_s=world.now_s,
        latency_ms=latency,
        network_size=world.network_size,
    )
    if isinstance(result, FormationFailure):
        world.tallies.formation_failures[result.reason.value] += 1
        return False
    _start(world, result, latency)
    return True


def _all_collude(world: World, rows: list[int]) -> bool:
    """Every member colludes: all the quorum's proofs are fake."""
    fixed = world.table.fixed
    return all(fixed(row).behaviour == COLLUDE for row in rows)


def _start(world: World, proposal: QuorumProposal, latency: dict[NodeId, float]) -> None:
    """Start the proposed quorum; `latency` holds each member's round trip from the founder."""
    table = world.table
    rows = [table.index_of(m.node_id) for m in proposal.members]
    founder = table.index_of(proposal.founder)
    record = SimQuorum(
        state=start_quorum(proposal, LIFECYCLE), members=rows, colluding=_all_collude(world, rows)
    )
    slot = world.book.allocate(record, world.now_s)
    # Each member answers one round trip after the proposal; the last answer activates it
    # (the founder's own acceptance first: a one-member quorum activates with it).
    answers = sorted(
        (world.now_s + latency[member.node_id] / 1000.0, row)
        for member, row in zip(proposal.members, rows, strict=True)
        if row != founder
    )
    apply(
        world,
        slot,
        ProposalsAccepted(
            (
                (proposal.founder, world.now_s),
                *((table.node_id(row), at_s) for at_s, row in answers),
            )
        ),
    )
    for member, row in zip(proposal.members, rows, strict=True):
        join(world, row, slot, member.stage)
    world.tallies.formations += 1
    refresh_rate(world, slot)
    schedule_check(world, slot)


# ------------------------------------------------------------------ checks


def schedule_check(world: World, slot: int) -> None:
    """Queue the next moment a Tick could change this quorum; older queued checks go stale."""
    record = world.book.records[slot]
    state = record.state
    if state.session_ends_s is not None:
        times = [state.session_ends_s]
    else:
        times = [state.created_at_s + LIFECYCLE.proposal_timeout_s]
    if state.renewal_due_s is not None and state.phase is QuorumPhase.ACTIVE:
        times.append(state.renewal_due_s)
    for row in record.silent:
        gone_s = float(world.table.silent_since_s[row])
        for threshold_s in (_DEGRADED_AFTER_S, LIFECYCLE.offline_after_s):
            if gone_s + threshold_s > world.now_s:
                times.append(gone_s + threshold_s + _EPSILON_S)
                break
    if state.replacements_wanted:
        times.append(
            world.now_s + world.scenario.step_s
        )  # look for a replacement again
    record.token += 1
    world.queue.push(
        max(min(times), world.now_s), EventKind.QUORUM_CHECK, slot, record.token
    )


def run_check(world: World, slot: int, token: int) -> None:
    record = world.book.records[slot]
    if record is None or record.token != token:
        return  # stale: the quorum is gone or was rescheduled
    now_s = world.now_s
    credit(world, slot, now_s)
    silent = record.silent
    heard = tuple(
        m.member.node_id
        for row, m in zip(record.members, record.state.members, strict=True)
        if row not in silent
    )
    reported = int(world.book.pending[slot])
    # Heartbeats, BatchesCompleted (when any) and Tick as one CheckIn: the same state.
    apply(world, slot, CheckIn(heard, reported, now_s))
    world.tallies.lifecycle_events += 2 if reported else 1  # counted as the events it stands for
    if reported:
        world.book.pending[slot] -= reported
    settle(world, slot)


def settle(world: World, slot: int) -> None:
    """After the state changed: dissolve, or replace whoever the quorum wants replaced."""
    record = world.book.records[slot]
    if record.state.phase is QuorumPhase.DISSOLVED:
        dissolve(world, slot)
        return
    for node_id, _reason in record.state.replacements_wanted:
        _replace(world, slot, world.table.index_of(node_id))
    refresh_rate(world, slot)
    schedule_check(world, slot)


def _replace(world: World, slot: int, old: int) -> None:
    record, table = world.book.records[slot], world.table
    position = record.members.index(old)
    stage = record.state.members[position].member.stage
    staying = [
        m.member.tier for i, m in enumerate(record.state.members) if i != position
    ]
    tiers = (
        sorted(set.intersection(*(set(formation_tiers(int(t))) for t in staying)))
        if staying
        else [1, 2, 3, 4]
    )
    anchor = record.members[0] if position != 0 else record.members[-1]
    view, latency = replacement_view(world, anchor, tiers or [int(table.tier[old])])
    excluded = frozenset(table.node_id(row) for row in record.members)
    chosen = find_replacement(
        stage, staying, view, latency_ms=latency, excluded=excluded
    )
    if chosen is None:
        world.tallies.replacements_not_found += 1
        return
    credit(world, slot, world.now_s)
    apply(world, slot, MemberReplaced(table.node_id(old), chosen, world.now_s))
    new = table.index_of(chosen.node_id)
    record.members[position] = new
    record.silent.discard(old)
    record.colluding = _all_collude(world, record.members)
    world.book.colluding[slot] = record.colluding
    join(world, new, slot, stage)
    leave(world, old)
    world.tallies.replacements += 1


def dissolve(world: World, slot: int) -> None:
    record = world.book.records[slot]
    credit(world, slot, world.now_s)
    reason = record.state.dissolve_reason
    world.tallies.dissolutions[reason.value if reason else "unknown"] += 1
    world.book.release(slot)
    for row in record.members:
        leave(world, row)


# ------------------------------------------------------------------ happenings


def member_gone(world: World, row: int, *, graceful: bool) -> None:
    """A member stops working for its quorum now: it left, crashed, or was expelled."""
    slot = int(world.table.quorum[row])
    record = world.book.records[slot] if slot >= 0 else None
    if record is None:
        return
    now_s, node_id = world.now_s, world.table.node_id(row)
    credit(world, slot, now_s)
    apply(world, slot, Heartbeat(node_id, now_s))  # its last heartbeat is now
    if graceful:
        apply(world, slot, MemberLeaving(node_id, now_s))
    world.table.silent_since_s[row] = now_s
    record.silent.add(row)
    if record.state.phase is QuorumPhase.DISSOLVED:
        dissolve(world, slot)  # leaving while forming dissolves at once
        return
    if graceful:
        settle(world, slot)
    else:
        refresh_rate(world, slot)
        schedule_check(world, slot)


def dissolve_for(world: World, slot: int, *, upgrade: bool) -> None:
    """An architecture upgrade (or a failed audit) dissolves the quorum whatever its phase."""
    event = ArchitectureUpgraded(world.now_s) if upgrade else AuditFailed(world.now_s)
    apply(world, slot, event)
    dissolve(world, slot)


def sample_latencies(
    world: World,
    rows: list[int],
    *,
    stage_ms: dict[int, float],
    layers: dict[int, int],
    tier_average_ms_per_layer: dict[int, float],
) -> None:
    """A LatencySample for each of these members; then replace whom the rule wants replaced."""
    table = world.table
    slots: dict[int, None] = {}  # in first-sampled order: deterministic
    for row in rows:
        slot = int(table.quorum[row])
        record = world.book.records[slot] if slot >= 0 else None
        if record is None or not record.state.is_live or row in record.silent:
            continue
        sample = LatencySample(
            table.node_id(row), world.now_s, stage_ms[row], layers[row], tier_average_ms_per_layer[row]
        )
        before = record.state
        after = apply(world, slot, sample)
        if after.replacements_wanted or after.phase is not before.phase:
            slots[slot] = None  # a slow flag, or a renewal it no longer holds up
    for slot in slots:
        if world.book.records[slot] is not None:
            settle(world, slot)
