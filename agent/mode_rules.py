"""`--mode auto`: which work the §7 rules give this node now, from its network view (pure, no I/O).

The rules (coordinator_free.modes.select_mode) choose a Mode; this module
maps it onto the work this agent can actually do, and says why in the reason:

- SOLO (alone) → the solo trainer, every layer.
- PIPELINE → a quorum stage running the node's claim. A claim that covers
  every layer is a complete pipeline by itself, a one-member quorum, which
  trains exactly as SOLO does (same batches, no hops): the solo trainer runs
  it and the status says "pipeline" with that reason. With the tiny and
  genesis models every tier's memory fits the whole model, so
  choose_layer_claim gives every layer to everyone and every node is SOLO
  (alone) or a one-member quorum: correct by the rules, and cohort sync
  between them is what makes them one network. Quorums of several members
  form when claims are partial (`--layers A-B`, or a model larger than a
  node's memory). Limitation: at n ≥ 5 the rules' minimum quorum size is 2,
  which would cut whole-model holders into stages; this agent's runtime
  holds its claim exactly, so a whole-model node stays a one-member quorum.
- ASYNC → the async contributor (agent/async_work.py), which fetches every
  layer from a holder; when some layer has no holder among the peers it
  cannot, and the node trains every layer itself (SOLO) until holders or a
  quorum appear — the survivors of a dissolved quorum whose missing stage
  nobody else holds land here.
- VERIFY and DATA have no worker in this agent yet: the reason says so and
  the node does what ASYNC would (above).
- IDLE (no memory for a layer) → nothing.

Whether a quorum is open to this node (select_mode's `quorum_available`):
it is in one; or its claim covers every layer; or some free layer-0 holder
(a founder: only layer-0 holders found quorums) would include it when
running form_quorum on this same view — what that founder will compute
from its own view, up to what each has heard.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator_free.modes import select_mode
from coordinator_free.network_view import LayerRange, Mode, NetworkView, NodeView
from coordinator_free.quorum_formation import QuorumProposal, form_quorum

MAX_FOUNDERS_TRIED = 16  # free layer-0 holders whose formation is simulated per re-selection, count


class Work:
    """What the node runs; the unit of a switch (the mode is a label on it)."""

    SOLO = "solo"  # the solo trainer, every layer (SOLO, or a one-member quorum)
    PIPELINE = "pipeline"  # a quorum stage of the claim
    ASYNC = "async"  # the async contributor
    IDLE = "idle"


@dataclass(frozen=True)
class Plan:
    mode: Mode  # what status and adverts say
    work: str  # a Work value
    reason: str  # why, for people

    def same_as(self, other: Plan | None) -> bool:
        return other is not None and (self.mode, self.work) == (other.mode, other.work)


class Hysteresis:
    """A new plan wins only after `hold` re-selections in a row agree and `min_dwell_s` passed since a switch."""

    def __init__(self, *, hold: int, min_dwell_s: float, now_s: float) -> None:
        self.hold = hold
        self.min_dwell_s = min_dwell_s
        self.candidate: Plan | None = None
        self.agreeing = 0
        self.switched_at_s = now_s

    def offer(self, current: Plan, plan: Plan, now_s: float) -> Plan | None:
        """The plan to switch to now, or None (stay; `current` may take `plan`'s fresher reason)."""
        if plan.same_as(current):
            self.candidate, self.agreeing = None, 0
            return None
        self.agreeing = self.agreeing + 1 if plan.same_as(self.candidate) else 1
        self.candidate = plan
        if self.agreeing >= self.hold and now_s - self.switched_at_s >= self.min_dwell_s:
            return plan
        return None

    def switched(self, now_s: float) -> None:
        self.candidate, self.agreeing, self.switched_at_s = None, 0, now_s


def quorum_open_to(own: NodeView, view: NetworkView, *, now_s: float) -> bool:
    """Whether a quorum that includes `own` is running or could form now (see the module doc)."""
    if own.in_quorum:
        return True
    founders = sorted((n for n in view.nodes if not n.in_quorum and n.layer_range is not None
                       and n.layer_range.start == 0), key=lambda n: n.node_id)
    for founder in founders[:MAX_FOUNDERS_TRIED]:
        result = form_quorum(founder.node_id, view, now_s=now_s, latency_ms={})
        if isinstance(result, QuorumProposal) and any(m.node_id == own.node_id for m in result.members):
            return True
    return False


def unheld_layers(own: NodeView, view: NetworkView) -> list[int]:
    """Layers no peer (this node left out) advertises: an async contributor could not fetch them."""
    held = [False] * view.layer_count
    for node in view.nodes:
        if node.node_id == own.node_id or node.layer_range is None:
            continue
        for layer in node.layer_range:
            if layer < view.layer_count:
                held[layer] = True
    return [layer for layer, yes in enumerate(held) if not yes]


def plan_mode(own: NodeView, view: NetworkView, *, now_s: float, forced_async: bool = False) -> Plan:
    """The work for `own` (its layer_range is its claim) in `view` (which includes `own`)."""
    whole = own.layer_range is not None and own.layer_range == LayerRange(0, view.layer_count)
    if forced_async:
        return _async_or_solo(own, view, "forced with --mode async")
    available = whole or quorum_open_to(own, view, now_s=now_s)
    decision = select_mode(own, view, quorum_available=available)
    if decision.mode is Mode.SOLO:
        return Plan(Mode.SOLO, Work.SOLO, decision.reason)
    if decision.mode is Mode.PIPELINE:
        if whole:
            return Plan(Mode.PIPELINE, Work.SOLO, f"{view.size} nodes seen; this node holds every layer, so it is a "
                        "complete quorum by itself (one member), trained like SOLO")
        if own.in_quorum:
            return Plan(Mode.PIPELINE, Work.PIPELINE, "member of a quorum covering every layer")
        return Plan(Mode.PIPELINE, Work.PIPELINE, f"a quorum covering every layer can form with layers "
                    f"[{own.layer_range.start}, {own.layer_range.stop}) of this node" if own.layer_range else
                    decision.reason)
    if decision.mode in (Mode.VERIFY, Mode.DATA):
        return _async_or_solo(own, view, f"the rules say {decision.mode.value.upper()} ({decision.reason}), "
                              "which this agent has no worker for yet")
    if decision.mode is Mode.ASYNC:
        return _async_or_solo(own, view, decision.reason)
    return Plan(Mode.IDLE, Work.IDLE, decision.reason)


def _async_or_solo(own: NodeView, view: NetworkView, why: str) -> Plan:
    missing = unheld_layers(own, view)
    if missing:
        return Plan(Mode.SOLO, Work.SOLO, f"{why}; ASYNC needs a holder of every layer to fetch from, and no peer "
                    f"holds layer(s) {missing}: training every layer here until a quorum or holders appear")
    return Plan(Mode.ASYNC, Work.ASYNC, why)
