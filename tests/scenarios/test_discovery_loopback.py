"""Three real agents on 127.0.0.1 with no --peer: mDNS alone, heartbeats, SIGKILL, goodbye, twins.

Each test uses its own network name, so agents of other tests (or a real
agent on this machine) are not counted.
"""

from __future__ import annotations

import os
import signal
import time

from peer_agents import FAST_TIMINGS, sees_alive, wait_for

DISCOVERY_DEADLINE_S = 10.0


def network_args() -> tuple[str, str]:
    return ("--network", f"test-{os.getpid()}-{time.monotonic_ns()}")


def start_three(launcher, network):
    return [launcher.start(name, *network) for name in ("a", "b", "c")]


def test_three_agents_find_each_other_by_mdns_alone(launcher):
    agents = start_three(launcher, network_args())
    for agent in agents:
        others = [other for other in agents if other is not agent]
        wait_for(lambda agent=agent, others=others: sees_alive(agent, others), timeout_s=DISCOVERY_DEADLINE_S,
                 what=f"{agent.name} to list the other two as alive")
    for agent in agents:
        peers = agent.peers()
        assert len(peers) == 2
        assert all("mdns" in peer["found_by"] or "inbound" in peer["found_by"] for peer in peers)
        assert any("mdns" in peer["found_by"] for peer in peers)
        assert all("bootstrap" not in peer["found_by"] and "exchange" not in peer["found_by"] for peer in peers)


def test_sigkilled_agent_goes_degraded_then_offline(launcher):
    a, b, c = start_three(launcher, network_args())
    for agent, others in ((a, [b, c]), (b, [a, c])):
        wait_for(lambda agent=agent, others=others: sees_alive(agent, others), timeout_s=DISCOVERY_DEADLINE_S,
                 what=f"{agent.name} to see the others")
    c.signal(signal.SIGKILL)
    c.process.wait()
    observations: dict[str, list[tuple[str, float | None]]] = {"a": [], "b": []}

    def offline_everywhere() -> bool:
        for observer in (a, b):
            peer = next(p for p in observer.peers() if p["node_id"] == c.node_id)
            observations[observer.name].append((peer["state"], peer["last_heartbeat_age_s"]))
        return all(seen[-1][0] == "offline" for seen in observations.values())

    wait_for(offline_everywhere, timeout_s=FAST_TIMINGS["offline_after_s"] + 5.0, interval_s=0.1,
             what="both survivors to mark the killed agent offline")
    degraded_after_s = 2 * FAST_TIMINGS["heartbeat_interval_s"]
    for name, seen in observations.items():
        states = [state for state, _ in seen]
        assert "degraded" in states, f"{name} never showed degraded: {states}"
        assert states.index("degraded") < states.index("offline")
        assert all(state == "offline" for state in states[states.index("offline"):])  # no flapping
        # The states follow the configured rule: degraded only after 2 missed
        # heartbeats, offline only after offline_after_s of silence.
        assert all(age >= degraded_after_s for state, age in seen if state == "degraded")
        assert all(age >= FAST_TIMINGS["offline_after_s"] for state, age in seen if state == "offline")
    assert sees_alive(a, [b]) and sees_alive(b, [a])


def test_clean_stop_says_goodbye(launcher):
    network = network_args()
    a, b = launcher.start("a", *network), launcher.start("b", *network)
    wait_for(lambda: sees_alive(a, [b]), timeout_s=DISCOVERY_DEADLINE_S, what="a to see b")
    assert b.stop() == 0

    def marked_offline():
        peer = next(p for p in a.peers() if p["node_id"] == b.node_id)
        return peer if peer["state"] == "offline" else None

    peer = wait_for(marked_offline, timeout_s=FAST_TIMINGS["offline_after_s"] + 5.0, interval_s=0.1,
                    what="a to mark b offline")
    # Offline before offline_after_s of silence: the mDNS goodbye did it, not the timeout.
    assert peer["last_heartbeat_age_s"] < FAST_TIMINGS["offline_after_s"]


def test_copied_state_dir_is_detected_and_the_second_agent_says_so(launcher):
    network = network_args()
    first = launcher.start("first", *network)
    copy = launcher.start("copy", *network, identity_from=first, wait=False)
    assert copy.process.wait(30) == 3
    log = copy.log_tail()
    assert "another agent with this node id" in log and "delete identity.key" in log
    assert first.process.poll() is None and first.peers() == []
