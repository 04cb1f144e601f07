"""Two real SOLO agents are a cohort for every layer: DiLoCo rounds leave them bit-identical.

Different seeds, so they start from different weights: the first round's
canonical rule (rounds.py) makes the higher node id adopt the lower one's
result, and every later round in which both answered must give identical
θ_start hashes without any adoption.
"""

from __future__ import annotations

import os
import time

from cohort_agents import cohort_args, logged_rounds, outer_state, resume_when_ready
from peer_agents import sees_alive, wait_for


def network_args() -> tuple[str, str]:
    return ("--network", f"cohort-{os.getpid()}-{time.monotonic_ns()}")


def test_two_solo_agents_sync_to_identical_weights(launcher):
    network = network_args()
    args = cohort_args(sync_interval=4, max_steps=12)
    a = launcher.start("a", *network, *args, "--seed", "1")
    b = launcher.start("b", *network, *args, "--seed", "2", "--peer", f"127.0.0.1:{a.peer_port}")
    wait_for(lambda: sees_alive(a, [b]) and sees_alive(b, [a]), timeout_s=15, what="a and b to see each other")
    resume_when_ready(a, b)
    assert a.process.wait(60) == 0 and b.process.wait(60) == 0, a.log_tail() + b.log_tail()
    for agent in (a, b):
        rounds = logged_rounds(agent)
        assert sorted(rounds) == [1, 2, 3], agent.log_tail()
        for weights, left_out in rounds.values():
            assert set(weights) == {a.node_id[:12], b.node_id[:12]} and left_out == []
            assert abs(sum(weights.values()) - 1.0) < 1e-3
    state_a, state_b = outer_state(a), outer_state(b)
    assert state_a.last_round == state_b.last_round == 3
    assert state_a.start_hashes == state_b.start_hashes
    loser = b if a.node_id < b.node_id else a
    assert loser.log_path.read_text().count("adopted weights") == 1  # only after the first round
