"""Beyond the LAN (no mDNS): --peer bootstrap and peer exchange between real agent processes."""

from __future__ import annotations

from peer_agents import sees_alive, wait_for

# B and C exchange once at start and then not for a minute, so the only way
# for C and A to meet is A's own exchange with B.
SLOW_EXCHANGE = {"exchange_interval_s": 60.0}


def test_a_knowing_only_b_learns_c_from_b_and_greets_it(launcher):
    c = launcher.start("c", "--no-mdns", timings=SLOW_EXCHANGE)
    b = launcher.start("b", "--no-mdns", "--peer", f"127.0.0.1:{c.peer_port}", timings=SLOW_EXCHANGE)
    wait_for(lambda: sees_alive(b, [c]) and sees_alive(c, [b]), timeout_s=10, what="b and c to meet")
    a = launcher.start("a", "--no-mdns", "--peer", f"127.0.0.1:{b.peer_port}")
    wait_for(lambda: sees_alive(a, [b, c]), timeout_s=10, what="a to list b and c as alive")
    wait_for(lambda: sees_alive(c, [a]), timeout_s=10, what="c to list a (a's hello reached it)")
    found_by = {peer["node_id"]: peer["found_by"] for peer in a.peers()}
    assert found_by == {b.node_id: ["bootstrap"], c.node_id: ["exchange"]}
    assert {peer["node_id"]: peer["found_by"] for peer in c.peers()}[a.node_id] == ["inbound"]


def test_copied_identity_met_through_bootstrap_stops_the_later_copy(launcher):
    first = launcher.start("first", "--no-mdns")
    copy = launcher.start("copy", "--no-mdns", "--peer", f"127.0.0.1:{first.peer_port}", identity_from=first,
                          wait=False)
    assert copy.process.wait(30) == 3
    assert "another agent with this node id" in copy.log_tail()
    assert first.process.poll() is None
