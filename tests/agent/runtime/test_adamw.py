"""The numpy AdamW steps exactly as torch.optim.AdamW does (decay on matrices only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.errors import AgentError
from agent.runtime.adamw import NumpyAdamW
from agent.runtime.base import OptimizerConfig, RuntimeState

CONFIG = OptimizerConfig(beta1=0.8, beta2=0.9, epsilon=1e-6, weight_decay=0.3)  # off-default: catches a swap


def _parameters() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "fc.weight": rng.standard_normal((6, 4)).astype(np.float32),
        "fc.bias": rng.standard_normal(6).astype(np.float32),
        "wte.weight": rng.standard_normal((5, 4)).astype(np.float32),
    }


def test_matches_torch_adamw_with_decay_groups_over_changing_learning_rates() -> None:
    parameters = _parameters()
    ours = NumpyAdamW({n: a.copy() for n, a in parameters.items()}, CONFIG)
    theirs = {n: torch.tensor(a.copy(), requires_grad=True) for n, a in parameters.items()}
    optimizer = torch.optim.AdamW(
        [
            {"params": [t for t in theirs.values() if t.ndim >= 2], "weight_decay": CONFIG.weight_decay},
            {"params": [t for t in theirs.values() if t.ndim < 2], "weight_decay": 0.0},
        ],
        lr=1.0, betas=(CONFIG.beta1, CONFIG.beta2), eps=CONFIG.epsilon,
    )
    rng = np.random.default_rng(1)
    for step in range(25):
        learning_rate = 1e-2 * (1 + step % 3)
        gradients = {n: rng.standard_normal(a.shape).astype(np.float32) for n, a in parameters.items()}
        ours.step(gradients, learning_rate=learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        for name, tensor in theirs.items():
            tensor.grad = torch.from_numpy(gradients[name])
        optimizer.step()
    for name, tensor in theirs.items():
        np.testing.assert_allclose(ours.parameters[name], tensor.detach().numpy(), rtol=1e-5, atol=1e-6)
        assert ours.parameters[name].dtype == np.float32
    assert ours.step_count == 25


def test_vectors_are_not_decayed_and_matrices_are() -> None:
    parameters = {"w": np.ones((2, 2), np.float32), "b": np.ones(2, np.float32)}
    optimizer = NumpyAdamW(parameters, CONFIG)
    optimizer.step({"w": np.zeros((2, 2), np.float32), "b": np.zeros(2, np.float32)}, learning_rate=0.5)
    np.testing.assert_allclose(parameters["w"], 1 - 0.5 * CONFIG.weight_decay)
    np.testing.assert_array_equal(parameters["b"], 1.0)


def test_moments_resume_bit_for_bit_and_are_checked() -> None:
    gradients = {n: np.full(a.shape, 0.5, np.float32) for n, a in _parameters().items()}
    first = NumpyAdamW(_parameters(), CONFIG)
    first.step(gradients, learning_rate=1e-2)
    resumed = NumpyAdamW({n: a.copy() for n, a in first.parameters.items()}, CONFIG)
    resumed.load(RuntimeState(first.parameters, first.first_moments, first.second_moments, first.step_count))
    for optimizer in (first, resumed):
        optimizer.step(gradients, learning_rate=1e-2)
    for name in gradients:
        np.testing.assert_array_equal(first.parameters[name], resumed.parameters[name])
    wrong = dict(first.first_moments, **{"fc.bias": np.zeros(7, np.float32)})
    with pytest.raises(AgentError, match="fc.bias"):
        resumed.load(RuntimeState(first.parameters, wrong, first.second_moments, 1))
