"""The simulator's shortcuts give exactly what the plain computation gives.

Each test states the plain form of what a sped-up path computes and checks
the two agree on inputs that reach every branch.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_free.diloco import contribution_weight
from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import NodeView
from coordinator_free.sim.engine import run_scenario
from coordinator_free.sim.nodes import GENESIS_SHARDS, MODES
from coordinator_free.sim.quorums import credit
from coordinator_free.sim.scenario import scenario_from_mapping
from coordinator_free.sim.training import _weights
from coordinator_free.sim.world import World


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=3000),
            st.sampled_from([0.0, 0.5, 600.0, 1800.0, 7200.0, 86400.0]),
        ),
        min_size=1,
        max_size=60,
    ),
    rounds=st.integers(min_value=1, max_value=4),
)
def test_cohort_weights_equal_one_rule_call_per_contributor(
    pairs: list[tuple[int, float]], rounds: int
) -> None:
    batches = np.array([b for b, _ in pairs], dtype=np.int64)
    ages_s = np.array([a for _, a in pairs], dtype=np.float64)
    weights = _weights({"batches": batches, "ages_s": ages_s}, rounds)
    expected = [contribution_weight(max(b // rounds, 0), a) for b, a in pairs]
    assert weights.tolist() == expected


def _small_world():
    scenario = scenario_from_mapping(
        {
            "name": "small",
            "days": 0.25,
            "seed": 5,
            "population": {"initial_nodes": 60, "final_nodes": 90, "mean_session_h": 6.0},
            "adversaries": {"share": 0.3, "lazy": 1.0, "sybil": 1.0, "collude": 1.0, "slow": 1.0},
        }
    )
    return run_scenario(scenario).world


def test_python_row_records_match_the_node_table_columns_after_a_run() -> None:
    world = _small_world()
    table = world.table
    rows = range(table.count)
    assert [tuple(table.fixed(row)) for row in rows] == [
        (
            table.node_id(row),
            float(table.speed_ms[row]),
            float(table.actual_ms[row]),
            int(table.max_layers[row]),
            int(table.memory_bytes[row]),
            int(table.region[row]),
            float(table.jitter_ms[row]),
            int(table.tier[row]),
            int(table.behaviour[row]),
        )
        for row in rows
    ]
    claims = [table.claim(row) for row in rows]
    assert [(c.start, c.stop) if c else (0, 0) for c in claims] == [
        (int(table.start[row]), int(table.stop[row])) for row in rows
    ]
    assert [table.quorum_ids[row] is None for row in rows] == [
        bool(table.quorum[row] < 0) for row in rows
    ]
    # The free pools hold exactly the rows the column form of offer_to_pools selects.
    eligible = [
        row
        for row in rows
        if table.online[row]
        and table.admitted[row]
        and table.tier[row] <= 4
        and table.stop[row] > table.start[row]
        and table.start[row] < world.depth
        and table.quorum[row] < 0
    ]
    assert eligible  # the run leaves free nodes, or the check says nothing
    assert sorted(world.pools.members()) == eligible


_CREDITED = ("pending", "since_round", "step_batches", "total_batches", "last_credit_s")


def _plain_credit(columns: dict[str, np.ndarray], slot: int, now_s: float) -> None:
    """credit as numpy scalar arithmetic (the form it replaced)."""
    elapsed_s = now_s - columns["last_credit_s"][slot]
    if elapsed_s > 0 and columns["training"][slot]:
        batches = columns["rate"][slot] * elapsed_s
        for name in _CREDITED[:-1]:
            columns[name][slot] += batches
    columns["last_credit_s"][slot] = max(columns["last_credit_s"][slot], now_s)


@settings(max_examples=100, deadline=None)
@given(
    rates=st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=4, max_size=4),
    calls=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.floats(min_value=-30.0, max_value=300.0),  # time step; may go back
            st.booleans(),  # whether the quorum trains from now on
        ),
        max_size=40,
    ),
)
def test_credit_equals_numpy_scalar_arithmetic(
    rates: list[float], calls: list[tuple[int, float, bool]]
) -> None:
    world = World(scenario_from_mapping({"name": "credit", "days": 0.01}))
    book = world.book
    book.rate[:4] = rates
    columns = {name: getattr(book, name).copy() for name in (*_CREDITED, "rate", "training")}
    now_s = 0.0
    for slot, step_s, training in calls:
        now_s += step_s
        book.training[slot] = columns["training"][slot] = training
        credit(world, slot, now_s)
        _plain_credit(columns, slot, now_s)
    for name in _CREDITED:
        assert getattr(book, name).tolist() == columns[name].tolist(), name


def test_node_views_equal_the_ones_the_constructor_builds() -> None:
    world = _small_world()
    table = world.table
    for row in range(table.count):
        table.touch(row)  # rebuilt now, from the table's state at the end of the run
        built = table.view(row)
        constructed = NodeView(
            node_id=table.node_id(row),
            speed_ms_per_layer=float(table.speed_ms[row]),
            layer_range=table.claim(row),
            max_layers=int(table.max_layers[row]),
            memory_bytes=int(table.memory_bytes[row]),
            quorum_id=table.quorum_ids[row],
            stake=float(table.stake[row]),
            shards=GENESIS_SHARDS,
            mode=MODES[int(table.mode[row])],
        )
        assert built == constructed
        assert vars(built) == vars(constructed)
        assert hash(built) == hash(constructed)
    modes = {table.view(row).mode for row in range(table.count)}
    assert len(modes) >= 3  # the run reaches several modes, so the check reads the column


def test_a_negative_stake_is_refused_as_the_constructor_refuses_it() -> None:
    world = _small_world()
    world.table.stake[0] = -1.0
    world.table.touch(0)
    with pytest.raises(ProtocolError, match="must all be >= 0"):
        world.table.view(0)


def test_live_slots_are_the_slots_holding_a_record() -> None:
    book = _small_world().book
    holding = [slot for slot, record in enumerate(book.records) if record is not None]
    assert holding  # quorums are live at the end of the run
    assert book.live_slots().tolist() == holding
    assert len(holding) == book.live_count
