"""Inference prices, escrow and the payment split (DESIGN.md §12).

Price per token = 0.0001 × demand × speed × reputation, floor 0.00005, with
demand = 1 + utilisation² (1.0-2.0), speed by the quorum's tier (its slowest
member: T1 1.5, T2 1.3, T3 1.0, T4 0.8; T5 serves no pipeline) and
reputation = 0.8 + 0.4·r (0.8-1.2) for r in [0, 1].

The client locks max_tokens × price in escrow; on completion or cancellation
it pays for the tokens delivered and the rest is refunded. The payment is
split: initiator 15 %, finisher 20 %, 5 % burnt, processors the remaining
60 % in proportion to the layers each runs.

Choices DESIGN leaves open:

- Without processors (a two-member quorum) their 60 % goes to initiator and
  finisher in proportion to their layers; a one-member quorum gets every
  share but the burn.
- Shares are floats; the finisher takes what is left after the burn and the
  other shares, so rounding neither creates nor loses more than one unit in
  the last place of the payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .constants import (
    BASE_PRICE_PER_TOKEN,
    BURN_SHARE,
    FINISHER_SHARE,
    INITIATOR_SHARE,
    PRICE_FLOOR_PER_TOKEN,
    REPUTATION_PRICE_BASE,
    REPUTATION_PRICE_SPAN,
    SPEED_PRICE_FACTOR,
)
from .errors import ProtocolError
from .tiers import Tier
from .types import NodeId


def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ProtocolError(f"{name} must be in [0, 1], got {value}")


def demand_factor(utilisation: float) -> float:
    _check_unit_interval("utilisation", utilisation)
    return 1.0 + utilisation**2


def speed_factor(tier: Tier) -> float:
    try:
        return SPEED_PRICE_FACTOR[int(tier)]
    except KeyError:
        raise ProtocolError(f"{Tier(tier).name} quorums do not exist; only T1-T4 serve inference") from None


def reputation_factor(reputation: float) -> float:
    _check_unit_interval("reputation", reputation)
    return REPUTATION_PRICE_BASE + REPUTATION_PRICE_SPAN * reputation


def price_per_token(*, utilisation: float, tier: Tier, reputation: float) -> float:
    """NEURO per generated token for a quorum of `tier` at `utilisation` with `reputation`."""
    price = (
        BASE_PRICE_PER_TOKEN * demand_factor(utilisation) * speed_factor(tier) * reputation_factor(reputation)
    )
    return max(PRICE_FLOOR_PER_TOKEN, price)


@dataclass(frozen=True)
class Escrow:
    max_tokens: int  # most tokens the client asked for
    price_per_token: float  # NEURO, fixed at request time
    locked: float  # NEURO held until settlement


@dataclass(frozen=True)
class EscrowSettlement:
    paid: float  # NEURO to split among the quorum
    refund: float  # NEURO back to the client


def lock_escrow(max_tokens: int, price: float) -> Escrow:
    if max_tokens < 1:
        raise ProtocolError(f"max_tokens must be >= 1, got {max_tokens}")
    if price <= 0:
        raise ProtocolError(f"price per token must be > 0 NEURO, got {price}")
    return Escrow(max_tokens=max_tokens, price_per_token=price, locked=max_tokens * price)


def settle_escrow(escrow: Escrow, delivered_tokens: int) -> EscrowSettlement:
    """Pay for what was delivered, refund the rest (also on a cancelled, stalled request)."""
    if not 0 <= delivered_tokens <= escrow.max_tokens:
        raise ProtocolError(f"delivered_tokens must be in [0, {escrow.max_tokens}], got {delivered_tokens}")
    paid = delivered_tokens * escrow.price_per_token
    return EscrowSettlement(paid=paid, refund=escrow.locked - paid)


@dataclass(frozen=True)
class PaymentSplit:
    shares: tuple[tuple[NodeId, float], ...]  # (member, NEURO), in pipeline order
    burn: float  # NEURO destroyed


def split_payment(paid: float, stages: Sequence[tuple[NodeId, int]]) -> PaymentSplit:
    """Split `paid` among quorum members given as (node, layers run) in pipeline order."""
    if paid < 0:
        raise ProtocolError(f"paid must be >= 0 NEURO, got {paid}")
    if not stages or any(layers < 1 for _, layers in stages):
        raise ProtocolError(f"every member runs >= 1 layer and there is at least one member, got {stages}")
    if len({node for node, _ in stages}) != len(stages):
        raise ProtocolError(f"a member appears twice in {stages}")
    burn = BURN_SHARE * paid
    pool = paid * (1.0 - INITIATOR_SHARE - FINISHER_SHARE - BURN_SHARE)
    if len(stages) == 1:
        return PaymentSplit(shares=((stages[0][0], paid - burn),), burn=burn)
    amounts = [INITIATOR_SHARE * paid] + [0.0] * (len(stages) - 2) + [FINISHER_SHARE * paid]
    # Processors share the pool; with none, initiator and finisher do.
    sharing = range(1, len(stages) - 1) if len(stages) > 2 else range(len(stages))
    sharing_layers = sum(stages[index][1] for index in sharing)
    for index in sharing:
        amounts[index] += pool * stages[index][1] / sharing_layers
    amounts[-1] = paid - burn - sum(amounts[:-1])
    shares = tuple((node, amount) for (node, _), amount in zip(stages, amounts, strict=True))
    return PaymentSplit(shares=shares, burn=burn)
