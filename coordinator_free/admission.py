"""Who counts as a member of the network: the Sybil defence (DESIGN.md §15).

Identities are free, so a node that costs nothing to create must gain
nothing: from the Growing phase (n >= ADMISSION_FROM_NETWORK_SIZE, DESIGN's
"full adversarial resistance") a node is admitted — may be a quorum member,
verifier or async contributor, and is paid — only if it has staked at least
ADMISSION_MIN_STAKE and its host runs fewer than ADMISSION_MAX_NODES_PER_HOST
admitted nodes already. Below that size nobody has earned a stake yet
(genesis starts with no NEURO), so everyone is admitted.

Choices DESIGN leaves open: the numbers (constants.py); a host is what peers
can see of a node's origin (its public address); a node refused for stake is
refused whatever its host, so the reasons are reported in that order. Stake
vote weight needs no rule here: a vote already weighs only stake.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import (
    ADMISSION_FROM_NETWORK_SIZE,
    ADMISSION_MAX_NODES_PER_HOST,
    ADMISSION_MIN_STAKE,
)
from .errors import ProtocolError


@dataclass(frozen=True)
class AdmissionDecision:
    admitted: bool
    reason: str  # for the log and the dashboard


def is_admission_enforced(network_size: int) -> bool:
    """Whether stake and host limits apply at this network size."""
    if network_size < 1:
        raise ProtocolError(f"network_size must be >= 1, got {network_size}")
    return network_size >= ADMISSION_FROM_NETWORK_SIZE


def decide_admission(stake: float, *, admitted_on_host: int, network_size: int) -> AdmissionDecision:
    """Whether a node with `stake` NEURO, whose host already runs `admitted_on_host` members, is one."""
    if stake < 0 or admitted_on_host < 0:
        raise ProtocolError(f"stake ({stake}) and admitted_on_host ({admitted_on_host}) must be >= 0")
    if not is_admission_enforced(network_size):
        return AdmissionDecision(True, f"n = {network_size} < {ADMISSION_FROM_NETWORK_SIZE}: no stake needed yet")
    if stake < ADMISSION_MIN_STAKE:
        return AdmissionDecision(False, f"stake {stake} NEURO < the minimum {ADMISSION_MIN_STAKE}")
    if admitted_on_host >= ADMISSION_MAX_NODES_PER_HOST:
        return AdmissionDecision(
            False, f"its host already runs {admitted_on_host} members (limit {ADMISSION_MAX_NODES_PER_HOST})"
        )
    return AdmissionDecision(True, "staked, within its host's limit")
