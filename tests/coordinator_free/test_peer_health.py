"""Peer liveness: alive → degraded after 2 missed heartbeats → offline at 120 s → forgotten."""

from __future__ import annotations

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.peer_health import (
    PeerHealthTimings,
    PeerState,
    is_contactable,
    missed_heartbeats,
    peer_state,
)

DEFAULTS = PeerHealthTimings()


@pytest.mark.parametrize(
    "silence_s, expected",
    [
        (0.0, PeerState.ALIVE),
        (59.9, PeerState.ALIVE),  # one heartbeat missed is not yet degraded
        (60.0, PeerState.DEGRADED),  # two missed
        (119.9, PeerState.DEGRADED),
        (120.0, PeerState.OFFLINE),
        (3599.0, PeerState.OFFLINE),
        (3600.0, PeerState.FORGOTTEN),
    ],
)
def test_protocol_defaults(silence_s, expected):
    assert peer_state(silence_s=silence_s, said_goodbye=False, timings=DEFAULTS) == expected


def test_goodbye_is_offline_at_once_but_forgotten_on_the_normal_schedule():
    assert peer_state(silence_s=0.0, said_goodbye=True, timings=DEFAULTS) == PeerState.OFFLINE
    assert peer_state(silence_s=3600.0, said_goodbye=True, timings=DEFAULTS) == PeerState.FORGOTTEN


def test_shrunk_timings_keep_the_same_shape():
    timings = PeerHealthTimings(heartbeat_interval_s=0.5, offline_after_s=3.0, forget_after_s=10.0)
    states = [peer_state(silence_s=s, said_goodbye=False, timings=timings) for s in (0.4, 1.0, 3.0, 10.0)]
    assert states == [PeerState.ALIVE, PeerState.DEGRADED, PeerState.OFFLINE, PeerState.FORGOTTEN]


def test_missed_heartbeats_counts_whole_intervals():
    assert [missed_heartbeats(s, 30.0) for s in (-1.0, 29.9, 30.0, 95.0)] == [0, 0, 1, 3]


def test_inconsistent_timings_are_refused():
    with pytest.raises(ProtocolError, match="offline_after_s"):
        PeerHealthTimings(heartbeat_interval_s=30.0, offline_after_s=50.0)


def test_only_alive_and_degraded_peers_are_contactable():
    assert [is_contactable(state) for state in PeerState] == [True, True, False, False]
