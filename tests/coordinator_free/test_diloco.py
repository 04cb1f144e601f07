"""DiLoCo weights, the outer Nesterov step and its sign."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coordinator_free.aggregation import PLAIN_MEAN_CONFIG, normalised_weights
from coordinator_free.diloco import (
    CohortSync,
    DiLoCoConfig,
    PseudoGradient,
    apply_cohort_sync,
    apply_outer_step,
    contribution_weight,
    freshness,
    initial_outer_state,
    pseudo_gradient,
)
from coordinator_free.errors import ProtocolError
from coordinator_free.types import NodeId

HOUR_S, DAY_S, WEEK_S = 3600.0, 86400.0, 604800.0


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [
        (0.0, 1.0),
        (HOUR_S - 0.001, 1.0),
        (HOUR_S, 0.9),
        (DAY_S - 0.001, 0.9),
        (DAY_S, 0.7),
        (WEEK_S - 0.001, 0.7),
        (WEEK_S, 0.3),
        (100 * WEEK_S, 0.3),
    ],
)
def test_freshness_table(age_s, expected):
    assert freshness(age_s) == expected


def test_weight_is_root_batches_times_freshness_with_a_floor():
    assert contribution_weight(100, 0.0) == 10.0
    assert contribution_weight(100, 2 * HOUR_S) == pytest.approx(9.0)
    assert contribution_weight(400, 2 * DAY_S) == pytest.approx(14.0)
    assert contribution_weight(0, 0.0) == 0.1
    assert contribution_weight(1, 2 * WEEK_S) == pytest.approx(0.3)
    assert contribution_weight(0, 2 * WEEK_S) == 0.1
    with pytest.raises(ProtocolError, match="batches must be >= 0"):
        contribution_weight(-1, 0.0)


def test_normalised_weights_sum_to_one_and_refuse_nonsense():
    weights = normalised_weights([10.0, 9.0, 0.1, 0.3])
    assert math.fsum(weights) == pytest.approx(1.0, abs=1e-15)
    assert weights[0] == 10.0 / 19.4
    with pytest.raises(ProtocolError):
        normalised_weights([])
    with pytest.raises(ProtocolError):
        normalised_weights([1.0, 0.0])


def test_pseudo_gradient_is_start_minus_now():
    start = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    now = np.array([[0.5, 2.0], [3.5, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(pseudo_gradient(start, now), [0.5, 0.0, -0.5, 3.0])
    with pytest.raises(ProtocolError, match="same layer"):
        pseudo_gradient(start, now.ravel())


def test_outer_step_is_nesterov_with_lr_point_seven_and_momentum_point_nine():
    # PyTorch SGD(nesterov=True, dampening=0): m ← μm + g; θ ← θ − lr(g + μm).
    state = initial_outer_state(np.array([10.0], dtype=np.float32))
    state = apply_outer_step(state, np.array([1.0], dtype=np.float32), DiLoCoConfig())
    assert state.momentum[0] == pytest.approx(1.0)
    assert state.parameters[0] == pytest.approx(10.0 - 0.7 * 1.9)
    state = apply_outer_step(state, np.array([2.0], dtype=np.float32), DiLoCoConfig())
    assert state.momentum[0] == pytest.approx(2.9)
    assert state.parameters[0] == pytest.approx(
        10.0 - 0.7 * 1.9 - 0.7 * (2.0 + 0.9 * 2.9), rel=1e-6
    )
    assert state.rounds_applied == 2


def _quadratic_rounds(config: DiLoCoConfig, rounds: int) -> float:
    """Distance to the optimum of ½Σa(θ−t)² after `rounds` DiLoCo rounds
    with five holders, each taking 5 local gradient steps on its own slightly
    shifted target, relative to the starting distance."""
    rng = np.random.default_rng(0)
    curvature = rng.uniform(0.5, 2.0, 16)
    target = rng.standard_normal(16)
    shifts = rng.standard_normal((5, 16)) * 0.01
    state = initial_outer_state(np.zeros(16, dtype=np.float32))
    start_distance = float(np.linalg.norm(target))
    for round_index in range(rounds):
        submissions = []
        for holder, shift in enumerate(shifts):
            local = state.parameters.astype(np.float64)
            for _ in range(5):
                local = local - 0.1 * curvature * (local - (target + shift))
            submissions.append(
                PseudoGradient(
                    NodeId(f"holder-{holder}"),
                    pseudo_gradient(state.parameters, local),
                    5,
                    0.0,
                )
            )
        state = apply_cohort_sync(
            state, CohortSync(tuple(submissions), now_s=60.0 * round_index), config
        )
        if not np.all(np.isfinite(state.parameters)):
            return math.inf
    optimum = target + shifts.mean(axis=0)
    return float(np.linalg.norm(state.parameters - optimum)) / start_distance


def test_subtracting_the_pseudo_gradient_converges_on_a_quadratic():
    assert (
        _quadratic_rounds(DiLoCoConfig(aggregation=PLAIN_MEAN_CONFIG), rounds=200)
        < 1e-4
    )
    # The robust aggregate's fixed point is not the mean of the holders'
    # optima but lies within their spread (shifts of 0.01 on a distance of ~4).
    assert _quadratic_rounds(DiLoCoConfig(), rounds=200) < 1e-2


def test_adding_the_pseudo_gradient_diverges():
    # θ ← θ_start + lr·step, the sign of the early write-up, is lr = −0.7 here.
    assert _quadratic_rounds(DiLoCoConfig(outer_learning_rate=-0.7), rounds=40) > 1e3


def test_cohort_sync_weighs_by_batches_and_age_and_records_the_round():
    now_s = 10 * DAY_S
    sync = CohortSync(
        pseudo_gradients=(
            PseudoGradient(
                NodeId("b"), np.ones(4, np.float32), 100, now_s - 2 * HOUR_S
            ),
            PseudoGradient(NodeId("a"), np.ones(4, np.float32), 400, now_s - 10.0),
            PseudoGradient(NodeId("c"), np.ones(4, np.float32), 0, now_s),
        ),
        now_s=now_s,
    )
    state = apply_cohort_sync(initial_outer_state(np.zeros(4, np.float32)), sync)
    report = state.last_aggregation
    assert report is not None
    assert report.node_ids == ("a", "b", "c")
    assert report.weights == normalised_weights([20.0, 9.0, 0.1])
    np.testing.assert_allclose(state.parameters, -0.7 * 1.9 * np.ones(4), rtol=1e-6)


def test_clock_skew_within_limit_counts_as_fresh_beyond_it_is_refused():
    def sync_dated(offset_s: float) -> CohortSync:
        return CohortSync(
            (PseudoGradient(NodeId("a"), np.ones(2, np.float32), 4, 100.0 + offset_s),),
            now_s=100.0,
        )

    state = initial_outer_state(np.zeros(2, np.float32))
    assert apply_cohort_sync(state, sync_dated(29.0)).last_aggregation.node_ids == (
        "a",
    )
    with pytest.raises(ProtocolError, match="in the future"):
        apply_cohort_sync(state, sync_dated(31.0))
