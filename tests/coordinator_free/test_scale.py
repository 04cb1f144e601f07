"""The §7 table of adaptive parameters and the phases, boundaries included."""

from __future__ import annotations

import math

import pytest

from coordinator_free.errors import ProtocolError
from coordinator_free.scale import (
    NetworkPhase,
    growth_threshold,
    min_quorum_size,
    network_phase,
    quorum_session_s,
    scale_parameters,
    spot_check_probability,
    sync_interval_batches,
    target_replicas_per_layer,
)


@pytest.mark.parametrize(
    ("n", "quorum", "replicas"),
    [(1, 1, 1), (4, 1, 1), (5, 2, 2), (19, 2, 2), (20, 3, 3), (100_000, 3, 3)],
)
def test_min_quorum_size_and_replicas(n: int, quorum: int, replicas: int) -> None:
    assert min_quorum_size(n) == quorum
    assert target_replicas_per_layer(n) == replicas


@pytest.mark.parametrize(
    ("n", "batches"), [(1, 100), (9, 100), (10, 500), (99, 500), (100, 1000), (10**6, 1000)]
)
def test_sync_interval(n: int, batches: int) -> None:
    assert sync_interval_batches(n) == batches


@pytest.mark.parametrize(
    ("n", "probability"),
    [(1, 0.0), (19, 0.0), (20, 0.01), (99, 0.01), (100, 0.03), (499, 0.03), (500, 0.05), (10**5, 0.05)],
)
def test_spot_check_probability(n: int, probability: float) -> None:
    assert spot_check_probability(n) == probability


@pytest.mark.parametrize(("n", "session_s"), [(1, 1800.0), (19, 1800.0), (20, 3600.0), (5000, 3600.0)])
def test_quorum_session(n: int, session_s: float) -> None:
    assert quorum_session_s(n) == session_s


@pytest.mark.parametrize(
    ("n", "threshold"),
    [(1, 1.5), (2, 1.6), (16, 1.9), (1024, 2.5), (100_000, 1.5 + 0.1 * math.log2(100_000))],
)
def test_growth_threshold(n: int, threshold: float) -> None:
    assert growth_threshold(n) == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("n", "phase"),
    [
        (1, NetworkPhase.GENESIS),
        (2, NetworkPhase.MICRO),
        (4, NetworkPhase.MICRO),
        (5, NetworkPhase.SMALL),
        (19, NetworkPhase.SMALL),
        (20, NetworkPhase.MEDIUM),
        (99, NetworkPhase.MEDIUM),
        (100, NetworkPhase.GROWING),
        (499, NetworkPhase.GROWING),
        (500, NetworkPhase.LARGE),
        (4999, NetworkPhase.LARGE),
        (5000, NetworkPhase.MASSIVE),
    ],
)
def test_network_phase(n: int, phase: NetworkPhase) -> None:
    assert network_phase(n) is phase


def test_scale_parameters_bundles_the_rules() -> None:
    params = scale_parameters(20)
    assert params.phase is NetworkPhase.MEDIUM
    assert (params.min_quorum_size, params.target_replicas_per_layer) == (3, 3)
    assert (params.sync_interval_batches, params.spot_check_probability) == (500, 0.01)
    assert params.quorum_session_s == 3600.0
    assert params.growth_threshold == pytest.approx(1.5 + 0.1 * math.log2(20))


@pytest.mark.parametrize("n", [0, -3])
def test_sizes_below_one_are_refused(n: int) -> None:
    with pytest.raises(ProtocolError, match="network_size"):
        scale_parameters(n)
