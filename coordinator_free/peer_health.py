"""Peer liveness from heartbeat silence (DESIGN.md §6): alive → degraded → offline → forgotten.

Pure: the caller passes how long a peer has been silent; no clocks here. The
quorum rules react to DEGRADED (look for a replacement) and OFFLINE (member
lost); the agent's peer table drops FORGOTTEN peers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .constants import (
    DEGRADED_AFTER_MISSED_HEARTBEATS,
    HEARTBEAT_INTERVAL_S,
    OFFLINE_AFTER_S,
    PEER_FORGET_AFTER_S,
)
from .errors import ProtocolError


class PeerState(Enum):
    ALIVE = "alive"
    DEGRADED = "degraded"  # missed enough heartbeats that its quorum seeks a replacement
    OFFLINE = "offline"  # silent too long, or said goodbye: out of every quorum
    FORGOTTEN = "forgotten"  # silent so long we drop it from the table


@dataclass(frozen=True)
class PeerHealthTimings:
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S  # between a peer's heartbeats, s
    degraded_after_missed_heartbeats: int = DEGRADED_AFTER_MISSED_HEARTBEATS  # count
    offline_after_s: float = OFFLINE_AFTER_S  # silence before offline, s
    forget_after_s: float = PEER_FORGET_AFTER_S  # silence before forgotten, s

    def __post_init__(self) -> None:
        degraded_after_s = self.heartbeat_interval_s * self.degraded_after_missed_heartbeats
        if not 0 < degraded_after_s < self.offline_after_s < self.forget_after_s:
            raise ProtocolError(
                "peer health timings must satisfy 0 < heartbeat_interval_s × "
                f"degraded_after_missed_heartbeats ({degraded_after_s}) < offline_after_s "
                f"({self.offline_after_s}) < forget_after_s ({self.forget_after_s})"
            )


def missed_heartbeats(silence_s: float, heartbeat_interval_s: float) -> int:
    """Whole heartbeat intervals that passed without a heartbeat."""
    return max(0, int(silence_s // heartbeat_interval_s))


def peer_state(*, silence_s: float, said_goodbye: bool, timings: PeerHealthTimings) -> PeerState:
    """The state of a peer last heard from `silence_s` ago.

    A goodbye makes a peer offline at once (it is leaving, there is nothing to
    wait for) but does not shorten the time before it is forgotten.
    """
    if silence_s >= timings.forget_after_s:
        return PeerState.FORGOTTEN
    if said_goodbye or silence_s >= timings.offline_after_s:
        return PeerState.OFFLINE
    if missed_heartbeats(silence_s, timings.heartbeat_interval_s) >= timings.degraded_after_missed_heartbeats:
        return PeerState.DEGRADED
    return PeerState.ALIVE


def is_contactable(state: PeerState) -> bool:
    """Whether a peer in `state` should be sent work or records (degraded ones still are)."""
    return state in (PeerState.ALIVE, PeerState.DEGRADED)
