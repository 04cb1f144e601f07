"""The agreement rule: which contributions count when some holders do not answer."""

from __future__ import annotations

import asyncio

import numpy as np

from agent.cohort.messages import (
    CommitMessage,
    ContributionMessage,
    LayerCommit,
    LayerDelta,
)
from agent.cohort.outer import initial_state, step_layer
from agent.cohort.rounds import (
    Received,
    RoundBook,
    agreed_contributors,
    canonical_start,
)

START = "a" * 64
OTHER_START = "b" * 64


def commit(layer_sets: dict[int, set[str]], *, start: str = START, rounds: int = 0) -> CommitMessage:
    return CommitMessage(3, tuple(
        LayerCommit(layer, start, rounds, tuple(sorted((node, f"d-{node}") for node in nodes)))
        for layer, nodes in sorted(layer_sets.items())))


def test_every_member_answered_everyone_agrees_on_all():
    commits = {n: commit({0: {"n1", "n2", "n3"}}) for n in ("n1", "n2", "n3")}
    assert {node for node, _ in agreed_contributors(commits, 0)} == {"n1", "n2", "n3"}


def test_a_contribution_one_holder_missed_counts_nowhere():
    # n3's Δ reached n1 but not n2; n3 then crashed (no commit from it).
    commits = {"n1": commit({0: {"n1", "n2", "n3"}}), "n2": commit({0: {"n1", "n2"}})}
    assert {node for node, _ in agreed_contributors(commits, 0)} == {"n1", "n2"}
    # n2 computes the same set from the same commits: both aggregate {n1, n2}
    assert agreed_contributors(dict(reversed(list(commits.items()))), 0) == agreed_contributors(commits, 0)


def test_sets_are_per_layer_so_partial_overlaps_do_not_drop_members():
    # A holds layers 0-1, B layer 0 only, C layer 1 only.
    commits = {"A": commit({0: {"A", "B"}, 1: {"A", "C"}}), "B": commit({0: {"A", "B"}}), "C": commit({1: {"A", "C"}})}
    assert {n for n, _ in agreed_contributors(commits, 0)} == {"A", "B"}
    assert {n for n, _ in agreed_contributors(commits, 1)} == {"A", "C"}


def test_a_different_digest_is_a_different_contribution():
    commits = {"n1": commit({0: {"n1", "n2"}}),
               "n2": CommitMessage(3, (LayerCommit(0, START, 0, (("n1", "forged"), ("n2", "d-n2"))),))}
    assert agreed_contributors(commits, 0) == frozenset({("n2", "d-n2")})


def test_canonical_start_prefers_most_rounds_then_lowest_id():
    commits = {"n1": commit({0: {"n1"}}, start=START, rounds=2), "n0": commit({0: {"n0"}}, start=OTHER_START, rounds=0)}
    assert canonical_start(commits, 0) == ("n1", START)
    commits["n0"] = commit({0: {"n0"}}, start=OTHER_START, rounds=2)
    assert canonical_start(commits, 0) == ("n0", OTHER_START)


def test_round_book_wakes_waiters_and_times_out():
    async def scenario() -> tuple[bool, bool]:
        book = RoundBook()
        waiting = asyncio.create_task(book.wait_until(lambda: "n2" in book.commits.get(1, {}), 5.0))
        await asyncio.sleep(0.01)
        book.add_commit(1, "n2", commit({0: {"n2"}}))
        arrived = await waiting
        timed_out = await book.wait_until(lambda: "n9" in book.commits.get(1, {}), 0.05)
        return arrived, timed_out

    assert asyncio.run(scenario()) == (True, False)


def _received(node: str, delta: np.ndarray, batches: int) -> tuple[Received, np.ndarray]:
    message = ContributionMessage(1, "sync", batches, 1000.0, 1100.0, START, (LayerDelta(0, START, {"x": delta}),))
    return Received(node, f"d-{node}", message), delta


def test_outer_step_is_bit_identical_whatever_the_arrival_order():
    rng = np.random.default_rng(0)
    state = initial_state({0: {"x": rng.standard_normal(1000).astype(np.float32)}}, 0.0, 4)
    items = [_received(f"n{i}", rng.standard_normal(1000).astype(np.float32), batches=4 * (i + 1)) for i in range(6)]
    first = step_layer(state.layers[0], items, _config())
    second = step_layer(state.layers[0], list(reversed(items)), _config())
    assert first.parameters.tobytes() == second.parameters.tobytes()
    weights = dict(zip(first.last_aggregation.node_ids, first.last_aggregation.weights, strict=True))
    assert weights["n5"] > weights["n0"]  # sqrt(batches): more batches, more weight


def test_outer_step_subtracts_the_aggregate():
    state = initial_state({0: {"x": np.ones(4, dtype=np.float32)}}, 0.0, 4)
    delta = np.full(4, 0.1, dtype=np.float32)
    stepped = step_layer(state.layers[0], [_received("n1", delta, 4)], _config())
    assert np.all(stepped.parameters < 1.0)  # θ_start − lr·(1 + μ)·Δ on the first round


def _config():
    from coordinator_free.diloco import DiLoCoConfig

    return DiLoCoConfig()
