"""Balances, stakes and escrows as a deterministic fold over a *set* of events (DESIGN §14).

Two nodes holding the same events must agree exactly, whatever order the
events reached them in, and however often. So `fold`:

1. drops duplicates (same event id = same canonical bytes);
2. sorts the rest into the canonical order: by `timestamp_s`, then by event
   id (a hash, so ties between equal timestamps go an arbitrary but agreed
   way);
3. applies each event with `apply_event`, which either applies it whole or
   rejects it whole, recording why. Rejection is data, not an exception: a
   peer's bad event must not stop the fold.

Rules (where DESIGN.md is silent, the choice is stated):
- No balance, stake or escrow ever goes negative. A transfer, stake, unstake,
  escrow lock, release or refund that would need more than there is is
  rejected.
- Money leaving an account by its owner's will (transfer, stake, unstake,
  escrow lock) must be issued — signed — by that owner; otherwise rejected.
  Rewards, slashes, escrow releases/refunds and accepted proofs follow from
  protocol rules (rewards, PoNW, inference) that this fold cannot re-check;
  verifying their issuer's right to issue them belongs to those rules.
- A slash is a penalty, so it is *capped*, not rejected: it takes up to its
  amount from the node's stake, then its balance, and the state records what
  was actually taken. Rejecting it would let an offender escape by emptying
  its account first.
- An escrow id is used once, ever: a second lock under it is rejected, and
  an escrow emptied by releases and refunds stays on record at zero.
- A proof is paid once: a second ProofAccepted for the same proof id is
  rejected even if its other fields differ.
- Events are final: nothing is rewritten; a late event with an early
  timestamp means the caller folds the whole set again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from coordinator_free.ledger_events import (
    EscrowLock,
    EscrowRefund,
    EscrowRelease,
    LedgerEvent,
    ProofAccepted,
    Reward,
    Slash,
    Stake,
    Transfer,
    Unstake,
    event_id,
)
from coordinator_free.types import NodeId


@dataclass(frozen=True)
class Escrow:
    payer: NodeId
    remaining_nano: int  # still held; 0 once fully released or refunded


@dataclass(frozen=True)
class Rejection:
    event_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class LedgerState:
    """Read-only result of a fold; mappings hold no zero entries."""

    balances: dict[NodeId, int] = field(default_factory=dict)  # spendable, nano-NEURO
    stakes: dict[NodeId, int] = field(default_factory=dict)  # staked, nano-NEURO
    escrows: dict[str, Escrow] = field(default_factory=dict)
    accepted_proofs: frozenset[str] = frozenset()
    seen_event_ids: frozenset[str] = frozenset()  # applied or rejected
    rejected: tuple[Rejection, ...] = ()
    slashed_nano: dict[NodeId, int] = field(
        default_factory=dict
    )  # actually taken, per offender
    minted_nano: int = 0  # rewards and accepted proofs
    burned_nano: int = 0  # slashes without beneficiary, escrow burns

    def balance(self, node: NodeId) -> int:
        return self.balances.get(node, 0)

    def stake(self, node: NodeId) -> int:
        return self.stakes.get(node, 0)


class _Scratch:
    """Mutable working copy used inside one fold; never escapes this module."""

    def __init__(self, state: LedgerState) -> None:
        self.balances = dict(state.balances)
        self.stakes = dict(state.stakes)
        self.escrows = dict(state.escrows)
        self.accepted_proofs = set(state.accepted_proofs)
        self.seen = set(state.seen_event_ids)
        self.rejected = list(state.rejected)
        self.slashed = dict(state.slashed_nano)
        self.minted = state.minted_nano
        self.burned = state.burned_nano

    def add(self, table: dict, key: NodeId, delta: int) -> None:
        value = table.get(key, 0) + delta
        if value:
            table[key] = value
        else:
            table.pop(key, None)

    def frozen(self) -> LedgerState:
        return LedgerState(
            balances=dict(self.balances),
            stakes=dict(self.stakes),
            escrows=dict(self.escrows),
            accepted_proofs=frozenset(self.accepted_proofs),
            seen_event_ids=frozenset(self.seen),
            rejected=tuple(self.rejected),
            slashed_nano=dict(self.slashed),
            minted_nano=self.minted,
            burned_nano=self.burned,
        )


def _owner_check(event: LedgerEvent, owner: NodeId) -> str | None:
    if event.issuer != owner:
        return f"only {owner} may move its own money, but {event.issuer} issued this"
    return None


def _shortfall(have: int, need: int, what: str) -> str | None:
    return (
        None
        if have >= need
        else f"{what} holds {have} nano-NEURO but {need} are needed"
    )


def _apply(scratch: _Scratch, event: LedgerEvent) -> str | None:
    """Apply one event to the scratch; return why it was rejected, or None."""
    match event:
        case Reward(node=node, amount_nano=amount):
            scratch.add(scratch.balances, node, amount)
            scratch.minted += amount
        case ProofAccepted(node=node, proof_id=proof_id, reward_nano=amount):
            if proof_id in scratch.accepted_proofs:
                return f"proof {proof_id} was already accepted and paid"
            scratch.accepted_proofs.add(proof_id)
            scratch.add(scratch.balances, node, amount)
            scratch.minted += amount
        case Stake(node=node, amount_nano=amount):
            problem = _owner_check(event, node) or _shortfall(
                scratch.balances.get(node, 0), amount, f"balance of {node}"
            )
            if problem:
                return problem
            scratch.add(scratch.balances, node, -amount)
            scratch.add(scratch.stakes, node, amount)
        case Unstake(node=node, amount_nano=amount):
            problem = _owner_check(event, node) or _shortfall(
                scratch.stakes.get(node, 0), amount, f"stake of {node}"
            )
            if problem:
                return problem
            scratch.add(scratch.stakes, node, -amount)
            scratch.add(scratch.balances, node, amount)
        case Transfer(sender=sender, recipient=recipient, amount_nano=amount):
            problem = _owner_check(event, sender) or _shortfall(
                scratch.balances.get(sender, 0), amount, f"balance of {sender}"
            )
            if problem:
                return problem
            scratch.add(scratch.balances, sender, -amount)
            scratch.add(scratch.balances, recipient, amount)
        case Slash():
            _apply_slash(scratch, event)
        case EscrowLock() | EscrowRelease() | EscrowRefund():
            return _apply_escrow(scratch, event)
        case _:
            return f"unknown event type {type(event).__name__}"
    return None


def _apply_slash(scratch: _Scratch, event: Slash) -> None:
    from_stake = min(event.amount_nano, scratch.stakes.get(event.node, 0))
    from_balance = min(
        event.amount_nano - from_stake, scratch.balances.get(event.node, 0)
    )
    scratch.add(scratch.stakes, event.node, -from_stake)
    scratch.add(scratch.balances, event.node, -from_balance)
    taken = from_stake + from_balance
    scratch.add(scratch.slashed, event.node, taken)
    if event.beneficiary is None:
        scratch.burned += taken
    else:
        scratch.add(scratch.balances, event.beneficiary, taken)


def _apply_escrow(
    scratch: _Scratch, event: EscrowLock | EscrowRelease | EscrowRefund
) -> str | None:
    escrow = scratch.escrows.get(event.escrow_id)
    if isinstance(event, EscrowLock):
        if escrow is not None:
            return f"escrow {event.escrow_id} already exists; escrow ids are used once"
        problem = _owner_check(event, event.payer) or _shortfall(
            scratch.balances.get(event.payer, 0),
            event.amount_nano,
            f"balance of {event.payer}",
        )
        if problem:
            return problem
        scratch.add(scratch.balances, event.payer, -event.amount_nano)
        scratch.escrows[event.escrow_id] = Escrow(event.payer, event.amount_nano)
        return None
    if escrow is None:
        return f"escrow {event.escrow_id} does not exist (no lock applied before this event)"
    if isinstance(event, EscrowRefund):
        problem = _shortfall(
            escrow.remaining_nano, event.amount_nano, f"escrow {event.escrow_id}"
        )
        if problem:
            return problem
        scratch.add(scratch.balances, escrow.payer, event.amount_nano)
        scratch.escrows[event.escrow_id] = Escrow(
            escrow.payer, escrow.remaining_nano - event.amount_nano
        )
        return None
    total = sum(amount for _, amount in event.payments) + event.burn_nano
    problem = _shortfall(escrow.remaining_nano, total, f"escrow {event.escrow_id}")
    if problem:
        return problem
    for payee, amount in event.payments:
        scratch.add(scratch.balances, payee, amount)
    scratch.burned += event.burn_nano
    scratch.escrows[event.escrow_id] = Escrow(
        escrow.payer, escrow.remaining_nano - total
    )
    return None


def _apply_identified(scratch: _Scratch, event: LedgerEvent, identifier: str) -> None:
    if identifier in scratch.seen:
        return  # a duplicate: already applied or already rejected
    scratch.seen.add(identifier)
    reason = _apply(scratch, event)
    if reason is not None:
        scratch.rejected.append(Rejection(identifier, event.KIND, reason))


def apply_event(state: LedgerState, event: LedgerEvent) -> LedgerState:
    """The state after `event`: applied whole, rejected whole (and recorded), or,
    for a duplicate, unchanged. Pure: `state` is not modified."""
    scratch = _Scratch(state)
    _apply_identified(scratch, event, event_id(event))
    return scratch.frozen()


def canonical_order(events: Iterable[LedgerEvent]) -> list[tuple[str, LedgerEvent]]:
    """Distinct events with their ids, sorted by (timestamp_s, event id)."""
    by_id = {event_id(event): event for event in events}
    return sorted(by_id.items(), key=lambda item: (float(item[1].timestamp_s), item[0]))


def fold(
    events: Iterable[LedgerEvent], start: LedgerState | None = None
) -> LedgerState:
    """Fold a set of events in canonical order (see the module docstring).

    `start` continues from an earlier fold; this equals folding everything at
    once only if no new event sorts before the old ones.
    """
    scratch = _Scratch(start or LedgerState())
    for identifier, event in canonical_order(events):
        _apply_identified(scratch, event, identifier)
    return scratch.frozen()
