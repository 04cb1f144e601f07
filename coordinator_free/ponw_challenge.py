"""The PoNW challenge game as a state machine, and who gets what (DESIGN §13).

    IN_WINDOW ──(window ends unchallenged)──────────────────────▶ ACCEPTED
        │ challenge (10 NEURO staked, within the 10-minute window)
        ▼
    CHALLENGED ──(no answer within 5 minutes)───────────────────▶ UNANSWERED
        │ prover answers
        ▼
    ANSWERED ──(verdict: passed, or no verdict within 5 minutes)─▶ UPHELD
             └─(verdict: failed)────────────────────────────────▶ FRAUD

Every interval is half-open: an event at exactly the end of a window or a
deadline is too late, and `apply_clock` at that instant moves the state on.
Events that break the rules (a late answer, a second challenge, a verdict from
someone other than the challenger) raise ProtocolError: the caller drops them
and may penalise the sender.

Settlement, as ledger events (`settlement_events`); the challenger's stake is
held in an escrow named "challenge:<proof id>" from the moment it challenges:
- ACCEPTED: the prover is paid the proof's reward (ProofAccepted).
- UPHELD: the reward is paid; the prover gains 50 % of the challenger's stake.
  DESIGN names only that half; this module refunds the other half to the
  challenger, so a wrong challenge costs 5 NEURO, not 10.
- FRAUD or UNANSWERED: no reward; the challenger's stake comes back whole and
  the prover is slashed 2 × its stake at challenge time, paid to the
  challenger (the ledger caps a slash at what the prover holds).
A challenger that never posts a verdict loses as if the proof were valid
(DESIGN is silent; otherwise a silent challenger could hold a reward forever).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from coordinator_free.constants import (
    CHALLENGE_ANSWER_DEADLINE_S,
    CHALLENGE_VERDICT_DEADLINE_S,
    CHALLENGE_WINDOW_S,
    CHALLENGER_STAKE,
    FRAUD_SLASH_STAKE_MULTIPLE,
    VALID_PROOF_CHALLENGER_STAKE_TO_PROVER,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.ledger_events import (
    EscrowLock,
    EscrowRefund,
    EscrowRelease,
    LedgerEvent,
    ProofAccepted,
    Slash,
    to_nano,
)
from coordinator_free.ponw import Verdict
from coordinator_free.types import NodeId


class ChallengePhase(enum.Enum):
    IN_WINDOW = "in_window"
    CHALLENGED = "challenged"
    ANSWERED = "answered"
    ACCEPTED = "accepted"  # terminal
    UPHELD = "upheld"  # terminal
    FRAUD = "fraud"  # terminal
    UNANSWERED = "unanswered"  # terminal


TERMINAL_PHASES = frozenset(
    {
        ChallengePhase.ACCEPTED,
        ChallengePhase.UPHELD,
        ChallengePhase.FRAUD,
        ChallengePhase.UNANSWERED,
    }
)


@dataclass(frozen=True)
class ChallengeConfig:
    window_s: float = CHALLENGE_WINDOW_S  # after submission, seconds
    challenger_stake_nano: int = to_nano(
        CHALLENGER_STAKE
    )  # exactly this much must be staked
    answer_deadline_s: float = (
        CHALLENGE_ANSWER_DEADLINE_S  # after the challenge, seconds
    )
    verdict_deadline_s: float = (
        CHALLENGE_VERDICT_DEADLINE_S  # after the answer, seconds
    )
    prover_share_of_challenger_stake: float = (
        VALID_PROOF_CHALLENGER_STAKE_TO_PROVER  # on UPHELD
    )
    fraud_slash_stake_multiple: float = (
        FRAUD_SLASH_STAKE_MULTIPLE  # × the prover's stake
    )


@dataclass(frozen=True)
class ProofChallenge:
    proof_id: str
    prover: NodeId
    submitted_at_s: float
    phase: ChallengePhase = ChallengePhase.IN_WINDOW
    challenger: NodeId | None = None
    challenger_stake_nano: int = 0
    prover_stake_nano: int = (
        0  # the prover's stake when challenged: fraud costs a multiple of it
    )
    challenged_at_s: float | None = None
    answered_at_s: float | None = None
    verdict: Verdict | None = None
    closed_at_s: float | None = None  # when it reached a terminal phase


@dataclass(frozen=True)
class ChallengeOpened:
    challenger: NodeId
    stake_nano: int
    prover_stake_nano: int  # read from the ledger by the challenger
    at_s: float


@dataclass(frozen=True)
class ChallengeAnswered:
    at_s: float  # when the prover's answer arrived


@dataclass(frozen=True)
class VerdictPosted:
    by: NodeId
    verdict: Verdict
    at_s: float


def submit_proof(
    proof_id: str, prover: NodeId, submitted_at_s: float
) -> ProofChallenge:
    return ProofChallenge(
        proof_id=proof_id, prover=prover, submitted_at_s=submitted_at_s
    )


def _require(state: ProofChallenge, phase: ChallengePhase, action: str) -> None:
    if state.phase is not phase:
        raise ProtocolError(
            f"cannot {action} proof {state.proof_id}: it is {state.phase.value}, not {phase.value}"
        )


def apply_clock(
    state: ProofChallenge, now_s: float, config: ChallengeConfig = ChallengeConfig()
) -> ProofChallenge:
    """Move on any deadline that has passed by `now_s`."""
    if (
        state.phase is ChallengePhase.IN_WINDOW
        and now_s >= state.submitted_at_s + config.window_s
    ):
        return replace(
            state,
            phase=ChallengePhase.ACCEPTED,
            closed_at_s=state.submitted_at_s + config.window_s,
        )
    if (
        state.phase is ChallengePhase.CHALLENGED
        and now_s >= state.challenged_at_s + config.answer_deadline_s
    ):
        deadline_s = state.challenged_at_s + config.answer_deadline_s
        return replace(state, phase=ChallengePhase.UNANSWERED, closed_at_s=deadline_s)
    if (
        state.phase is ChallengePhase.ANSWERED
        and now_s >= state.answered_at_s + config.verdict_deadline_s
    ):
        return replace(
            state,
            phase=ChallengePhase.UPHELD,
            closed_at_s=state.answered_at_s + config.verdict_deadline_s,
        )
    return state


def apply_challenge_opened(
    state: ProofChallenge,
    event: ChallengeOpened,
    config: ChallengeConfig = ChallengeConfig(),
) -> ProofChallenge:
    state = apply_clock(state, event.at_s, config)
    _require(state, ChallengePhase.IN_WINDOW, "challenge")
    if event.at_s < state.submitted_at_s:
        raise ProtocolError(
            f"challenge at {event.at_s} s predates the proof ({state.submitted_at_s} s)"
        )
    if event.challenger == state.prover:
        raise ProtocolError(f"{event.challenger} cannot challenge its own proof")
    if event.stake_nano != config.challenger_stake_nano:
        raise ProtocolError(
            f"a challenge stakes exactly {config.challenger_stake_nano} nano-NEURO, got {event.stake_nano}"
        )
    if event.prover_stake_nano < 0:
        raise ProtocolError(f"prover stake must be >= 0, got {event.prover_stake_nano}")
    return replace(
        state,
        phase=ChallengePhase.CHALLENGED,
        challenger=event.challenger,
        challenger_stake_nano=event.stake_nano,
        prover_stake_nano=event.prover_stake_nano,
        challenged_at_s=event.at_s,
    )


def apply_challenge_answered(
    state: ProofChallenge,
    event: ChallengeAnswered,
    config: ChallengeConfig = ChallengeConfig(),
) -> ProofChallenge:
    state = apply_clock(state, event.at_s, config)
    _require(state, ChallengePhase.CHALLENGED, "answer a challenge on")
    return replace(state, phase=ChallengePhase.ANSWERED, answered_at_s=event.at_s)


def apply_verdict_posted(
    state: ProofChallenge,
    event: VerdictPosted,
    config: ChallengeConfig = ChallengeConfig(),
) -> ProofChallenge:
    state = apply_clock(state, event.at_s, config)
    _require(state, ChallengePhase.ANSWERED, "post a verdict on")
    if event.by != state.challenger:
        raise ProtocolError(
            f"only the challenger {state.challenger} posts the verdict, not {event.by}"
        )
    phase = ChallengePhase.UPHELD if event.verdict.passed else ChallengePhase.FRAUD
    return replace(state, phase=phase, verdict=event.verdict, closed_at_s=event.at_s)


def escrow_id_for(proof_id: str) -> str:
    return f"challenge:{proof_id}"


def challenge_stake_lock(state: ProofChallenge) -> EscrowLock:
    """The ledger event that holds the challenger's stake (issued by the challenger)."""
    if state.challenger is None or state.challenged_at_s is None:
        raise ProtocolError(f"proof {state.proof_id} has not been challenged")
    return EscrowLock(
        state.challenger,
        state.challenged_at_s,
        escrow_id_for(state.proof_id),
        state.challenger,
        state.challenger_stake_nano,
    )


def settlement_events(
    state: ProofChallenge,
    *,
    issuer: NodeId,
    reward_nano: int,
    config: ChallengeConfig = ChallengeConfig(),
) -> tuple[LedgerEvent, ...]:
    """Ledger events that settle a finished proof (see the module docstring)."""
    if state.phase not in TERMINAL_PHASES:
        raise ProtocolError(
            f"proof {state.proof_id} is still {state.phase.value}; settle it once it is closed"
        )
    at_s = state.closed_at_s
    paid = ProofAccepted(issuer, at_s, state.prover, state.proof_id, reward_nano)
    if state.phase is ChallengePhase.ACCEPTED:
        return (paid,)
    escrow = escrow_id_for(state.proof_id)
    stake = state.challenger_stake_nano
    if state.phase is ChallengePhase.UPHELD:
        to_prover = round(stake * config.prover_share_of_challenger_stake)
        events: list[LedgerEvent] = [
            paid,
            EscrowRelease(issuer, at_s, escrow, ((state.prover, to_prover),), 0),
        ]
        if stake - to_prover:
            events.append(EscrowRefund(issuer, at_s, escrow, stake - to_prover))
        return tuple(events)
    events = [EscrowRefund(issuer, at_s, escrow, stake)]
    slash_nano = round(state.prover_stake_nano * config.fraud_slash_stake_multiple)
    if slash_nano:
        reason = f"ponw {state.phase.value} on proof {state.proof_id}"
        events.append(
            Slash(issuer, at_s, state.prover, slash_nano, state.challenger, reason)
        )
    return tuple(events)
