"""Reward rates, async freshness, role bonus and scarcity weights (§14)."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.network_view import LayerRange
from coordinator_free.rewards import (
    WorkPeriod,
    async_freshness,
    async_reward,
    data_reward,
    layer_weights,
    period_reward,
    pipeline_reward,
    role_bonus,
    uptime_reward,
)

HOUR, DAY, WEEK = 3600.0, 86400.0, 604800.0


@pytest.mark.parametrize(
    ("age_s", "freshness"),
    [
        (0.0, 1.0),
        (HOUR - 0.1, 1.0),
        (HOUR, 0.7),
        (DAY - 0.1, 0.7),
        (DAY, 0.5),
        (WEEK - 0.1, 0.5),
        (WEEK, 0.3),
        (10 * WEEK, 0.3),
    ],
)
def test_async_freshness(age_s: float, freshness: float) -> None:
    assert async_freshness(age_s) == freshness


def test_negative_age_is_refused() -> None:
    with pytest.raises(ProtocolError, match="age_s"):
        async_freshness(-1.0)


def test_rates() -> None:
    assert pipeline_reward(1, 1) == 0.0005
    assert pipeline_reward(100, 4) == pytest.approx(0.2)
    assert async_reward(100, 4, age_s=0.0) == pytest.approx(0.12)
    assert async_reward(100, 4, age_s=DAY) == pytest.approx(0.06)
    assert uptime_reward(60.0) == pytest.approx(0.0001)
    assert uptime_reward(3600.0) == pytest.approx(0.006)
    assert data_reward(1000) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("embedding", "head", "training", "bonus"),
    [
        (False, False, False, 0.0),
        (True, False, False, 0.2),
        (False, True, False, 0.3),
        (False, False, True, 0.1),
        (True, True, True, 0.6),
    ],
)
def test_role_bonus_is_additive(embedding: bool, head: bool, training: bool, bonus: float) -> None:
    assert role_bonus(holds_embedding=embedding, holds_head=head, training=training) == pytest.approx(bonus)


def test_period_reward_of_a_whole_model_pipeline_node() -> None:
    work = WorkPeriod(layer_count=11, layers=LayerRange(0, 11), pipeline_batches=100, uptime_s=600.0)
    reward = period_reward(work)
    assert reward.pipeline == pytest.approx(0.55) and reward.uptime == pytest.approx(0.001)
    assert reward.bonus == pytest.approx(0.6)
    assert reward.total == pytest.approx((0.55 + 0.001) * 1.6)


def test_period_reward_of_a_middle_async_node() -> None:
    work = WorkPeriod(layer_count=11, layers=LayerRange(3, 5), async_batches=50, async_age_s=2 * HOUR)
    reward = period_reward(work)
    assert reward.async_training == pytest.approx(0.0003 * 50 * 2 * 0.7)
    assert reward.bonus == pytest.approx(0.1) and reward.pipeline == 0.0


def test_an_idle_data_server_gets_no_bonus() -> None:
    reward = period_reward(WorkPeriod(layer_count=11, layers=None, samples_served=500, uptime_s=60.0))
    assert reward.bonus == 0.0 and reward.total == pytest.approx(0.005 + 0.0001)


def test_scarce_and_warming_layers_change_the_weights() -> None:
    scarcity = np.array([0.0, 1.0, 0.5, 0.0])
    weights = layer_weights(LayerRange(1, 4), scarcity, factors=[1.0, 1.0, 0.1])
    assert weights == pytest.approx((2.0, 1.5, 0.1))
    work = WorkPeriod(layer_count=4, layers=LayerRange(1, 4), pipeline_batches=10)
    reward = period_reward(work, weights)
    assert reward.pipeline == pytest.approx(0.0005 * 10 * 3.6)
    assert reward.bonus == pytest.approx(0.3 + 0.1)


@pytest.mark.parametrize(
    ("work", "weights", "message"),
    [
        (WorkPeriod(layer_count=4, layers=LayerRange(2, 6)), None, "past the model"),
        (WorkPeriod(layer_count=4, layers=LayerRange(0, 2)), (1.0,), "1 weights"),
        (
            WorkPeriod(layer_count=4, layers=LayerRange(0, 2), pipeline_batches=-1),
            None,
            "counts must be >= 0",
        ),
    ],
)
def test_period_reward_refuses_inconsistent_input(
    work: WorkPeriod, weights: tuple | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        period_reward(work, weights)


def test_layer_weights_check_their_inputs() -> None:
    with pytest.raises(ProtocolError, match="past the 2 scarcity"):
        layer_weights(LayerRange(0, 3), np.zeros(2))
    with pytest.raises(ProtocolError, match="2 factors for 3 layers"):
        layer_weights(LayerRange(0, 3), np.zeros(3), factors=[1.0, 1.0])
