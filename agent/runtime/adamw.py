"""The inner optimizer in numpy: AdamW exactly as torch.optim.AdamW computes it.

Both backends must step identically (the contract test compares 20 steps of
losses), so the arithmetic here follows torch's single-tensor AdamW line by
line: decoupled decay first, then the moments, then the bias-corrected step.
Weight decay applies to matrices only (ndim >= 2): biases, LayerNorm gains and
the like are not pulled towards zero.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import AgentError
from .base import OptimizerConfig, RuntimeState


def is_decayed(array: np.ndarray) -> bool:
    """Whether weight decay applies to this tensor (matrices and embeddings yes, vectors no)."""
    return array.ndim >= 2


class NumpyAdamW:
    """AdamW over named float32 arrays, updated in place.

    The moments live here keyed by parameter name so that `RuntimeState` can
    carry them between machines and resume bit for bit.
    """

    def __init__(self, parameters: dict[str, np.ndarray], config: OptimizerConfig) -> None:
        self.config = config
        self.parameters = parameters
        self.first_moments = {n: np.zeros_like(p) for n, p in parameters.items()}
        self.second_moments = {n: np.zeros_like(p) for n, p in parameters.items()}
        self.step_count = 0
        # One scratch buffer per tensor keeps a step free of large allocations.
        self._scratch = {n: np.empty_like(p) for n, p in parameters.items()}

    def load(self, state: RuntimeState) -> None:
        """Take moments and step count from `state` (after the caller loaded parameters)."""
        for label, moments in (("first", state.first_moments), ("second", state.second_moments)):
            check_moments(self.parameters, moments, label)
        for name in self.parameters:
            self.first_moments[name][...] = state.first_moments[name]
            self.second_moments[name][...] = state.second_moments[name]
        self.step_count = int(state.optimizer_step)

    def step(self, gradients: dict[str, np.ndarray], *, learning_rate: float) -> None:
        """One AdamW step with `gradients` (same names as the parameters)."""
        c = self.config
        self.step_count += 1
        bias_correction1 = 1.0 - c.beta1**self.step_count
        bias_correction2_sqrt = math.sqrt(1.0 - c.beta2**self.step_count)
        step_size = learning_rate / bias_correction1
        for name, param in self.parameters.items():
            grad = gradients[name]
            m, v, tmp = self.first_moments[name], self.second_moments[name], self._scratch[name]
            if c.weight_decay and is_decayed(param):
                param *= np.float32(1.0 - learning_rate * c.weight_decay)
            m += (grad - m) * np.float32(1.0 - c.beta1)  # torch uses lerp: m + (g - m)(1 - b1)
            v *= np.float32(c.beta2)
            np.multiply(grad, grad, out=tmp)
            v += tmp * np.float32(1.0 - c.beta2)
            np.sqrt(v, out=tmp)
            tmp /= np.float32(bias_correction2_sqrt)
            tmp += np.float32(c.epsilon)
            np.divide(m, tmp, out=tmp)
            tmp *= np.float32(step_size)
            param -= tmp


def check_moments(
    parameters: dict[str, np.ndarray], moments: dict[str, np.ndarray], label: str
) -> None:
    """Raise unless `moments` has one float32 array per parameter with its shape."""
    if set(moments) != set(parameters):
        missing = sorted(set(parameters) - set(moments))[:5]
        extra = sorted(set(moments) - set(parameters))[:5]
        raise AgentError(
            f"{label} AdamW moments do not match the stage's parameters: "
            f"missing {missing}, unexpected {extra}; pass all of them or none"
        )
    for name, array in moments.items():
        expected = parameters[name].shape
        if array.dtype != np.float32 or array.shape != expected:
            raise AgentError(
                f"{label} AdamW moment {name}: expected float32 {expected}, "
                f"got {array.dtype} {array.shape}"
            )
