"""Small versions of the four scenarios, each judged property asserted on the run.

Each scenario runs once per module (a few seconds) and several tests read it.
Growth is re-checked with the rule itself from the inputs the simulator
logged; every other property is read from the time series, the tallies or
the final ledger.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coordinator_free.growth import check_growth_from_counts
from coordinator_free.scale import NetworkPhase, network_phase
from coordinator_free.sim.engine import SimulationResult, run_scenario
from coordinator_free.sim.hardware import Behaviour
from coordinator_free.sim.metrics import COLUMNS
from coordinator_free.sim.scenario import load_scenario, with_overrides
from coordinator_free.sim.summary import RECOVERY_SHARE, summarize


def _run(name: str, **overrides: float) -> tuple[SimulationResult, dict]:
    result = run_scenario(with_overrides(load_scenario(name), **overrides))
    return result, summarize(result)


def _column(result: SimulationResult, name: str) -> np.ndarray:
    return np.array([row[COLUMNS.index(name)] for row in result.recorder.rows])


@pytest.fixture(scope="module")
def genesis() -> tuple[SimulationResult, dict]:
    return _run("genesis-to-1000", nodes=600, days=2.0)


@pytest.fixture(scope="module")
def storm() -> tuple[SimulationResult, dict]:
    return _run("churn-storm", nodes=600, days=0.6)


@pytest.fixture(scope="module")
def adversarial() -> tuple[SimulationResult, dict]:
    return _run("adversarial-10pct", nodes=400, days=0.5)


def test_genesis_passes_every_phase_from_genesis_to_large_in_order(genesis) -> None:
    result, summary = genesis
    names = [entry["phase"] for entry in summary["phases"]]
    expected = [p.name.title() for p in NetworkPhase if p <= NetworkPhase.LARGE]
    assert names == expected
    # The series' phase is the rule's phase of its size, and it starts alone.
    nodes, phases = _column(result, "nodes"), _column(result, "phase")
    assert all(
        network_phase(int(n)) == int(p) for n, p in zip(nodes, phases, strict=True)
    )
    assert nodes[0] == 1 and phases[0] == NetworkPhase.GENESIS


def test_genesis_grows_the_model_only_when_the_growth_rule_allows(genesis) -> None:
    result, summary = genesis
    log = result.world.growth_log
    assert summary["depth"]["grown"] >= 1 and log, (
        "a 600-node network should outgrow 11 layers"
    )
    for entry in log:
        inputs = {k: v for k, v in entry.items() if k not in ("at_s", "new_depth")}
        decision = check_growth_from_counts(**inputs)
        assert decision.should_grow and decision.new_depth == entry["new_depth"], (
            decision.blockers
        )
    # Depth changes in the series only by activations of announced growths, never shrinks.
    depth = _column(result, "depth")
    assert (np.diff(depth) >= 0).all()
    assert len(np.flatnonzero(np.diff(depth))) == summary["depth"]["grown"]


def test_genesis_keeps_embedding_and_head_held_from_20_nodes_on(genesis) -> None:
    result, summary = genesis
    assert (
        summary["edge_uncovered_share"] is not None
        and summary["edge_uncovered_share"] < 0.01
    )
    watched = _column(result, "nodes") >= 20
    first = int(np.argmax(watched))
    assert (_column(result, "embedding_holders")[first:] > 0).mean() > 0.99
    assert (_column(result, "head_holders")[first:] > 0).mean() > 0.99


def test_genesis_trains_syncs_and_pays(genesis) -> None:
    _, summary = genesis
    assert summary["tokens_trained"] > 0 and summary["sync_rounds"] > 0
    assert summary["rewards_by_tier_neuro"]["T2"] > 0
    assert summary["honest_wrongly_slashed"] == 0
    assert (
        summary["vocabulary"]["proposals"] == 0
    )  # the small version ends before hour 100


def test_churn_storm_quorums_reform_and_throughput_recovers_within_an_hour(
    storm,
) -> None:
    result, summary = storm
    recovery = summary["storm"]
    assert (
        recovery["recovered_after_h"] is not None
        and recovery["recovered_after_h"] <= 1.0
    ), recovery
    storm_h = result.scenario.storm.at_h
    nodes = _column(result, "nodes")
    time_h = _column(result, "time_h")
    before, after = nodes[time_h <= storm_h][-1], nodes[time_h <= storm_h + 2.0][-1]
    assert after < 0.8 * before  # the storm did take about 30 % away
    quorums = _column(result, "quorums")[time_h <= storm_h + 2.0][-1]
    assert quorums >= 0.5 * recovery["quorums_before"]
    efficiency = _column(result, "compute_efficiency")
    settled = efficiency[(time_h > storm_h + 2.0)]
    assert (
        settled.size
        and np.median(settled) >= RECOVERY_SHARE * recovery["efficiency_before"]
    )


def test_adversarial_lazy_nodes_are_caught_at_the_spot_check_rate(adversarial) -> None:
    result, summary = adversarial
    checks = summary["spot_checks"]
    tallies = result.world.tallies
    assert checks["fake_proofs_caught"] >= 5
    deviation = math.sqrt(tallies.catch_variance)
    assert (
        abs(tallies.fake_proofs_caught - tallies.expected_catches) <= 4.0 * deviation
    ), checks
    lazy = summary["attackers"]["lazy"]
    assert lazy["caught"] == lazy["nodes"] and lazy["slashed_nodes"] == lazy["caught"]


def test_adversarial_no_honest_node_is_slashed(adversarial) -> None:
    result, summary = adversarial
    assert summary["honest_wrongly_slashed"] == 0
    assert summary["spot_checks"]["honest_verdicts_run"] > 0
    assert summary["spot_checks"]["honest_verdicts_failed"] == 0
    table, slashed = result.world.table, result.world.economy.ledger.slashed_nano
    for node_id in slashed:
        assert table.behaviour[table.index_of(node_id)] != Behaviour.HONEST


def test_adversarial_attackers_earn_less_than_honest_nodes_of_their_tier(
    adversarial,
) -> None:
    _, summary = adversarial
    groups = summary["earnings_neuro_per_day"]
    compared = 0
    for behaviour in ("lazy", "sybil"):
        for tier in range(1, 6):
            attacker, honest = (
                groups.get(f"{behaviour}/T{tier}"),
                groups.get(f"honest/T{tier}"),
            )
            if attacker and honest:
                assert attacker["neuro_per_day"] < honest["neuro_per_day"], (
                    behaviour,
                    tier,
                    groups,
                )
                compared += 1
    assert compared >= 3
    assert summary["sybils_refused"] > 0
    colluders = summary["attackers"].get("collude")
    if colluders and colluders["caught"]:
        assert colluders["slashed_nodes"] == colluders["caught"]


def test_adversarial_poison_is_clipped_or_trimmed_by_the_aggregator(
    adversarial,
) -> None:
    _, summary = adversarial
    aggregation = summary["aggregation"]
    assert aggregation["poisoned"] > 0
    assert aggregation["poisoned_clipped"] >= 0.9 * aggregation["poisoned"]
    assert aggregation["honest_clipped"] <= 0.05 * (
        aggregation["contributions"] - aggregation["poisoned"]
    )
