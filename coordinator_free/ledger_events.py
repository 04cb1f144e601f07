"""The ledger's events: signed-ready records of every movement of NEURO (DESIGN §14).

Each event names its `issuer` (the node that signs it) and its `timestamp_s`
(shared clock); its id is the SHA-256 of its canonical bytes
(coordinator_free/canonical.py). Money is integer nano-NEURO
(NANO_PER_NEURO per NEURO) so every node's fold sums exactly.

Construction validates shape only (positive amounts, non-empty ids, finite
time); whether an event can be applied is the fold's decision (ledger.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from coordinator_free.canonical import canonical_bytes, decode_record, record_id
from coordinator_free.constants import NANO_PER_NEURO
from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId


def to_nano(neuro: float) -> int:
    """NEURO → integer nano-NEURO, rounded to nearest (ties to even)."""
    if not math.isfinite(neuro):
        raise ProtocolError(f"amount must be finite, got {neuro}")
    return round(neuro * NANO_PER_NEURO)


def to_neuro(nano: int) -> float:
    return nano / NANO_PER_NEURO


def _check_common(event: object, *amounts: int) -> None:
    if not event.issuer:
        raise ProtocolError(
            f"{type(event).__name__} needs an issuer (the signing node)"
        )
    timestamp_s = event.timestamp_s
    if (
        isinstance(timestamp_s, bool)
        or not isinstance(timestamp_s, (int, float))
        or not math.isfinite(timestamp_s)
    ):
        raise ProtocolError(
            f"{type(event).__name__} timestamp_s must be a finite number, got {timestamp_s!r}"
        )
    for amount in amounts:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ProtocolError(
                f"{type(event).__name__} amounts are positive integers of nano-NEURO, got {amount!r}; "
                "convert with to_nano()"
            )


@dataclass(frozen=True)
class Reward:
    KIND: ClassVar[str] = "ledger.reward"
    issuer: NodeId
    timestamp_s: float
    node: NodeId  # who is paid (new NEURO)
    amount_nano: int
    reason: str  # e.g. "pipeline", "uptime", "data"

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)


@dataclass(frozen=True)
class Stake:
    KIND: ClassVar[str] = "ledger.stake"
    issuer: NodeId  # must be `node`
    timestamp_s: float
    node: NodeId
    amount_nano: int  # balance → stake

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)


@dataclass(frozen=True)
class Unstake:
    KIND: ClassVar[str] = "ledger.unstake"
    issuer: NodeId  # must be `node`
    timestamp_s: float
    node: NodeId
    amount_nano: int  # stake → balance

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)


@dataclass(frozen=True)
class Slash:
    KIND: ClassVar[str] = "ledger.slash"
    issuer: NodeId
    timestamp_s: float
    node: NodeId  # the offender
    amount_nano: (
        int  # taken from stake first, then balance; capped at what the node has
    )
    beneficiary: NodeId | None  # receives it; None burns it
    reason: str

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)


@dataclass(frozen=True)
class Transfer:
    KIND: ClassVar[str] = "ledger.transfer"
    issuer: NodeId  # must be `sender`
    timestamp_s: float
    sender: NodeId
    recipient: NodeId
    amount_nano: int

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)
        if self.sender == self.recipient:
            raise ProtocolError(
                f"transfer from {self.sender} to itself moves nothing; drop it"
            )


@dataclass(frozen=True)
class EscrowLock:
    KIND: ClassVar[str] = "ledger.escrow_lock"
    issuer: NodeId  # must be `payer`
    timestamp_s: float
    escrow_id: (
        str  # unique forever, e.g. "inference:<request id>", "challenge:<proof id>"
    )
    payer: NodeId
    amount_nano: int  # balance → escrow

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)
        if not self.escrow_id:
            raise ProtocolError("escrow_id must not be empty")


@dataclass(frozen=True)
class EscrowRelease:
    KIND: ClassVar[str] = "ledger.escrow_release"
    issuer: NodeId
    timestamp_s: float
    escrow_id: str
    payments: tuple[tuple[NodeId, int], ...]  # (payee, nano-NEURO) from the escrow
    burn_nano: int  # destroyed from the escrow (inference burn share); may be 0

    def __post_init__(self) -> None:
        _check_common(self, *(amount for _, amount in self.payments))
        if (
            isinstance(self.burn_nano, bool)
            or not isinstance(self.burn_nano, int)
            or self.burn_nano < 0
        ):
            raise ProtocolError(
                f"burn_nano must be an integer >= 0, got {self.burn_nano!r}"
            )
        if not self.payments and self.burn_nano == 0:
            raise ProtocolError(
                f"release of escrow {self.escrow_id} pays nobody and burns nothing"
            )


@dataclass(frozen=True)
class EscrowRefund:
    KIND: ClassVar[str] = "ledger.escrow_refund"
    issuer: NodeId
    timestamp_s: float
    escrow_id: str
    amount_nano: int  # escrow → its payer

    def __post_init__(self) -> None:
        _check_common(self, self.amount_nano)


@dataclass(frozen=True)
class ProofAccepted:
    KIND: ClassVar[str] = "ledger.proof_accepted"
    issuer: NodeId
    timestamp_s: float
    node: NodeId  # the prover
    proof_id: str  # each proof is paid once
    reward_nano: int

    def __post_init__(self) -> None:
        _check_common(self, self.reward_nano)


LedgerEvent = (
    Reward
    | Stake
    | Unstake
    | Slash
    | Transfer
    | EscrowLock
    | EscrowRelease
    | EscrowRefund
    | ProofAccepted
)
EVENT_TYPES: dict[str, type] = {
    cls.KIND: cls
    for cls in (
        Reward,
        Stake,
        Unstake,
        Slash,
        Transfer,
        EscrowLock,
        EscrowRelease,
        EscrowRefund,
        ProofAccepted,
    )
}


def event_bytes(event: LedgerEvent) -> bytes:
    """The bytes the issuer signs."""
    return canonical_bytes(event)


def event_id(event: LedgerEvent) -> str:
    """Hex SHA-256 of the event's canonical bytes."""
    return record_id(event)


def decode_event(data: bytes) -> LedgerEvent:
    return decode_record(data, EVENT_TYPES)
