"""Backoff: exponential, capped, cleared by one success."""

from __future__ import annotations

from agent.network.backoff import Backoff, backoff_delay_s


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_delay_doubles_then_caps():
    delays = [backoff_delay_s(n, base_s=1.0, cap_s=10.0) for n in range(6)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert backoff_delay_s(10_000, base_s=1.0, cap_s=300.0) == 300.0


def test_failing_peer_is_left_out_until_its_wait_is_over():
    clock = ManualClock()
    backoff = Backoff(base_s=1.0, cap_s=60.0, clock=clock)
    assert not backoff.is_waiting("a:1")
    assert backoff.record_failure("a:1") == 1.0
    assert backoff.is_waiting("a:1") and not backoff.is_waiting("b:2")
    clock.now_s += 1.0
    assert not backoff.is_waiting("a:1")
    assert backoff.record_failure("a:1") == 2.0
    assert backoff.failures("a:1") == 2


def test_success_clears_the_record():
    clock = ManualClock()
    backoff = Backoff(base_s=1.0, cap_s=60.0, clock=clock)
    backoff.record_failure("a:1")
    backoff.record_success("a:1")
    assert not backoff.is_waiting("a:1") and backoff.failures("a:1") == 0
