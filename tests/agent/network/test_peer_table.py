"""Peer table: hellos and heartbeats make peers heard; the coordinator_free rule ages them."""

from __future__ import annotations

from agent.network.messages import Heartbeat, PeerRecord
from agent.network.peer_table import PeerTable
from coordinator_free.peer_health import PeerHealthTimings, PeerState
from coordinator_free.types import NodeId

TIMINGS = PeerHealthTimings(heartbeat_interval_s=1.0, offline_after_s=5.0, forget_after_s=20.0)
NODE = NodeId("ab" * 32)
RECORD = PeerRecord(network="main", addresses=("10.0.0.2",), port=8470, boot_id="cd" * 8, started_ns=1,
                    tier="T2", layer_start=0, layer_stop=4)
BEAT = Heartbeat(boot_id="cd" * 8, quorum_id="q1", queue_depth=2, free_capacity_fraction=0.25, step=40)


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def table_with_one_peer() -> tuple[PeerTable, ManualClock]:
    clock = ManualClock()
    table = PeerTable(TIMINGS, clock)
    table.record_hello(node_id=NODE, host="10.0.0.2", found_by="mdns", record=RECORD, record_bytes=b"signed",
                       versions=("genesis", 1, 1))
    return table, clock


def test_hello_adds_an_alive_peer_with_its_record():
    table, _ = table_with_one_peer()
    (peer,) = table.snapshot()
    assert (peer.state, peer.address, peer.tier, peer.found_by) == (PeerState.ALIVE, "10.0.0.2:8470", "T2", ("mdns",))
    assert table.records_to_share(10) == [b"signed"]


def test_silence_degrades_then_offlines_then_forgets():
    table, clock = table_with_one_peer()
    seen = []
    for silence_s in (1.5, 2.0, 5.0, 20.0):
        clock.now_s = 1000.0 + silence_s
        table.refresh_states()
        seen.append(table.get(NODE).state if NODE in table else PeerState.FORGOTTEN)
    assert seen == [PeerState.ALIVE, PeerState.DEGRADED, PeerState.OFFLINE, PeerState.FORGOTTEN]
    assert table.records_to_share(10) == []


def test_heartbeat_revives_and_carries_load():
    table, clock = table_with_one_peer()
    clock.now_s += 6.0
    table.refresh_states()
    assert table.get(NODE).state == PeerState.OFFLINE
    assert table.record_heartbeat(NODE, BEAT)
    peer = table.get(NODE)
    assert (peer.state, peer.quorum_id, peer.queue_depth, peer.step) == (PeerState.ALIVE, "q1", 2, 40)
    assert peer.last_heartbeat_at_s == clock.now_s


def test_heartbeat_from_unknown_or_restarted_peer_is_not_taken():
    table, _ = table_with_one_peer()
    assert not table.record_heartbeat(NodeId("ef" * 32), BEAT)
    restarted = Heartbeat(boot_id="99" * 8, quorum_id=None, queue_depth=0, free_capacity_fraction=1.0, step=0)
    assert not table.record_heartbeat(NODE, restarted)


def test_goodbye_is_offline_at_once_and_not_shared():
    table, _ = table_with_one_peer()
    table.record_goodbye(NODE)
    assert table.get(NODE).state == PeerState.OFFLINE
    assert table.refresh_states() == []
    assert table.records_to_share(10) == []


def test_found_by_accumulates_without_repeats():
    table, _ = table_with_one_peer()
    table.add_found_by(NODE, "exchange")
    table.add_found_by(NODE, "mdns")
    assert table.get(NODE).found_by == ("mdns", "exchange")


def test_goodbye_of_an_earlier_run_does_not_touch_the_restarted_peer():
    table, _ = table_with_one_peer()
    table.record_goodbye(NODE, boot_id="00" * 8)  # the mDNS name of a run before a restart expiring
    assert table.get(NODE).state == PeerState.ALIVE
    table.record_goodbye(NODE, boot_id=RECORD.boot_id)
    assert table.get(NODE).state == PeerState.OFFLINE
