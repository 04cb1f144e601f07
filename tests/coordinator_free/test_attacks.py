"""Byzantine attacks against the cohort aggregator, end to end through DiLoCo.

Ten workers, three seeds, the harness in attack_harness.py. Each ratio is the
final loss under attack ÷ the clean loss (plain mean, nobody attacking) of
the same seed. The thresholds are the issue's; the aggregator was tuned to
meet them, never the other way round.
"""

from __future__ import annotations

import functools

import pytest
from attack_harness import Attack, clean_loss, final_loss

from coordinator_free.aggregation import (
    DEFAULT_CONFIG,
    PLAIN_MEAN_CONFIG,
    AggregationConfig,
    AggregationMethod,
)

SEEDS = (0, 1, 2)
TRIMMED_MEAN_ALONE = AggregationConfig(
    clip_to_median_norm=False, nearest_neighbour_mixing=False
)
KRUM_ALONE = AggregationConfig(
    method=AggregationMethod.KRUM,
    clip_to_median_norm=False,
    nearest_neighbour_mixing=False,
)


@functools.cache
def clean(seed: int) -> float:
    return clean_loss(seed)


@functools.cache
def ratio(
    attack: Attack, attackers: int, seed: int, aggregation: AggregationConfig
) -> float:
    return final_loss(
        attack=attack, attackers=attackers, seed=seed, aggregation=aggregation
    ) / clean(seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_harness_bites_plain_mean_blows_up_under_one_gaussian_attacker(seed):
    assert ratio(Attack.GAUSSIAN, 1, seed, PLAIN_MEAN_CONFIG) >= 10.0


@pytest.mark.parametrize("seed", SEEDS)
def test_without_attack_the_default_is_within_one_percent_of_the_plain_mean(seed):
    assert abs(ratio(Attack.NONE, 0, seed, DEFAULT_CONFIG) - 1.0) <= 0.01


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("attack", "attackers", "limit"),
    [
        (Attack.GAUSSIAN, 1, 1.10),
        (Attack.GAUSSIAN, 2, 1.10),
        (Attack.GAUSSIAN, 3, 1.10),
        (Attack.GAUSSIAN, 4, 1.10),
        (Attack.SIGN_FLIP, 2, 1.5),
        (Attack.SIGN_FLIP, 3, 2.2),
        (Attack.ALIE, 2, 1.15),
        (Attack.ALIE, 3, 1.25),
        (Attack.ALIE, 4, 1.4),
        (Attack.IPM, 3, 1.6),
        (Attack.IPM, 4, 1.6),
    ],
)
def test_the_default_aggregator_withstands(attack, attackers, limit, seed):
    assert ratio(attack, attackers, seed, DEFAULT_CONFIG) <= limit


@pytest.mark.parametrize("seed", SEEDS)
def test_trimmed_mean_alone_falls_to_alie_which_is_why_the_default_mixes_first(seed):
    # Four ALIE attackers sit inside the honest spread, so per coordinate the
    # trim removes at most two of them and the rest drag every coordinate the
    # same way, round after round. Mixing each vector with its nearest
    # majority first shrinks the honest spread they hide in.
    assert ratio(Attack.ALIE, 4, seed, TRIMMED_MEAN_ALONE) > 1.4
    assert ratio(Attack.ALIE, 4, seed, DEFAULT_CONFIG) <= 1.4


@pytest.mark.parametrize("seed", SEEDS)
def test_krum_alone_falls_to_inner_product_manipulation(seed):
    # Identical IPM vectors are each other's nearest neighbours, so with four
    # of them Krum picks one every round and the model walks uphill (DESIGN §9;
    # with three it still costs 26–118 % here, short of this test's bar).
    assert ratio(Attack.IPM, 4, seed, KRUM_ALONE) > 10.0
    assert ratio(Attack.IPM, 4, seed, DEFAULT_CONFIG) <= 1.6
